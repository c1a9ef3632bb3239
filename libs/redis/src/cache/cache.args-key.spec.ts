import { describe, expect, it } from '@jest/globals';
import { argumentsKey, UnstableArgumentError } from './cache.args-key.js';

describe('argumentsKey', () => {
  const same = (a: unknown[], b: unknown[]) => expect(argumentsKey(a)).toBe(argumentsKey(b));
  const differ = (a: unknown[], b: unknown[]) => expect(argumentsKey(a)).not.toBe(argumentsKey(b));

  it('is equal for equal data whatever the key or insertion order', () => {
    same([{ a: 1, b: { c: [1, 2] } }], [{ b: { c: [1, 2] }, a: 1 }]);
    same([new Set(['x', 'y'])], [new Set(['y', 'x'])]);
    same([new Map([['k', 1], ['j', 2]])], [new Map([['j', 2], ['k', 1]])]);
    same([1], [1, undefined]);
    same([{ a: 1, b: undefined }], [{ a: 1 }]);
    same([0], [-0]);
    same([new Date('2026-01-01T00:00:00Z')], [new Date(Date.UTC(2026, 0, 1))]);
  });

  it('differs between values that differ in type or content', () => {
    differ([1], ['1']);
    differ([[]], [{}]);
    differ([null], [undefined, null]);
    differ([new Map([['a', 1]])], [{ a: 1 }]);
    differ([new Set([1])], [[1]]);
    differ([1n], [1]);
    differ([NaN], [null]);
    differ([[1, 2]], [[2, 1]]);
    differ([new Uint8Array([1, 2])], [new Uint8Array([1, 3])]);
    class A {
      constructor(readonly id: number) {}
    }
    class B {
      constructor(readonly id: number) {}
    }
    differ([new A(1)], [new B(1)]);
    same([new A(1)], [new A(1)]);
    differ([new A(1)], [{ id: 1 }]);
    differ(['a', 'b'], ['a,b']);
  });

  it('keys built-ins that hold their data outside own properties by that data', () => {
    differ([new Uint8Array([1]).buffer], [new Uint8Array([2]).buffer]);
    same([new Uint8Array([1]).buffer], [new Uint8Array([1]).buffer]);
    differ([new Uint8Array([1]).buffer], [new Uint8Array([1])]);
    differ([Object(1)], [Object(2)]);
    differ([Object('a')], [Object('b')]);
    differ([Object(true)], [Object(false)]);
    differ([Object(1)], [1]);
    differ([new URLSearchParams('a=1')], [new URLSearchParams('a=2')]);
    expect(() => argumentsKey([new Error('a')])).toThrow(UnstableArgumentError);
  });

  it('names where an argument has no stable value', () => {
    const cyclic: { self?: unknown; list: unknown[] } = { list: [] };
    cyclic.list.push({ back: cyclic });
    const cases: Array<[unknown[], RegExp]> = [
      [[1, () => 1], /^arguments\[1\] is a function/],
      [[{ s: Symbol('x') }], /^arguments\[0\]\.s is a symbol/],
      [[cyclic], /^arguments\[0\]\.list\[0\]\.back is a reference back/],
      [[Promise.resolve(1)], /^arguments\[0\] is a Promise/],
      [[new WeakMap()], /^arguments\[0\] is a WeakMap/],
    ];
    for (const [args, message] of cases) {
      let caught: unknown;
      try {
        argumentsKey(args);
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(UnstableArgumentError);
      expect((caught as Error).message).toMatch(message);
    }
    // A shared (not cyclic) reference is fine.
    const shared = { id: 1 };
    expect(() => argumentsKey([shared, [shared]])).not.toThrow();
  });
});
