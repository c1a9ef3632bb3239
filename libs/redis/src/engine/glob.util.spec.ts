import { describe, expect, it } from '@jest/globals';
import { compileGlob, escapeGlob, globMatch } from './glob.util.js';

// Parity with a real server is proven in libs/redis/test/cache/glob.parity.spec.ts; these pin the
// parts that depend on our own choices (units, escaping) and stay fast.
describe('glob.util', () => {
  it('counts UTF-8 bytes by default, as Redis does, and characters on request', () => {
    expect(globMatch('?', 'é')).toBe(false);
    expect(globMatch('??', 'é')).toBe(true);
    expect(globMatch('?', 'é', 'codepoint')).toBe(true);
    expect(globMatch('?', '😀', 'codepoint')).toBe(true);
    expect(globMatch('a?c', 'a😀c', 'codepoint')).toBe(true);
    expect(globMatch('a?c', 'a😀c')).toBe(false);
  });

  it('compares range bounds as signed chars: bytes above 0x7F sort below the ASCII range', () => {
    // 'é' is C3 A9; [a-é] is the range C3..'a' once swapped, which holds '\0'..'a' and not 'b'.
    expect(globMatch('[a-é]', 'A')).toBe(true);
    expect(globMatch('[a-é]', 'b')).toBe(false);
  });

  it('gives up past 1000 nested star runs unless the last one ends the pattern', () => {
    const key = 'a'.repeat(1100);
    expect(compileGlob('*a'.repeat(1000)).test(key)).toBe(true);
    expect(compileGlob('*a'.repeat(1001)).test(key)).toBe(false);
    expect(compileGlob(`${'a*'.repeat(1001)}`).test(key)).toBe(true);
  });

  it('escapes every metacharacter so user data only matches itself', () => {
    const text = 'a*b?c[d]e\\f';
    expect(globMatch(escapeGlob(text), text)).toBe(true);
    expect(globMatch(escapeGlob(text), 'a*b?c[d]e\\g')).toBe(false);
  });
});
