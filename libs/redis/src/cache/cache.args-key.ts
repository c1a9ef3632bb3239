import { createHash } from 'node:crypto';

/** Why an argument list has no stable key: where in it, and what was found there. */
export class UnstableArgumentError extends Error {
  constructor(
    readonly path: string,
    readonly found: string,
  ) {
    super(`${path} is ${found}`);
  }
}

/**
 * A short, stable key for a method's arguments: equal for arguments that are equal as data, whatever
 * the order of object keys or of a Set's or Map's insertion, and different for values that differ in
 * type (`1` and `'1'`, `[]` and `{}`, a Map and an object). Trailing `undefined` arguments are
 * dropped, so `find(1)` and `find(1, undefined)` share an entry. Throws `UnstableArgumentError` for
 * what has no stable value (functions, symbols, promises, weak collections, cycles).
 */
export function argumentsKey(args: readonly unknown[]): string {
  let end = args.length;
  while (end > 0 && args[end - 1] === undefined) end--;
  const text = canonical(args.slice(0, end), 'arguments', new Set());
  return createHash('sha256').update(text).digest('base64url');
}

/** Each value is written with a type marker, so no two different values share a text. */
function canonical(value: unknown, path: string, seen: Set<object>): string {
  switch (typeof value) {
    case 'string':
      return `s${JSON.stringify(value)}`;
    case 'number':
      return Number.isNaN(value) ? 'nNaN' : `n${Object.is(value, -0) ? 0 : value}`;
    case 'boolean':
      return value ? 'T' : 'F';
    case 'bigint':
      return `i${value}`;
    case 'undefined':
      return 'u';
    case 'function':
      throw new UnstableArgumentError(path, `a function (${value.name || 'anonymous'})`);
    case 'symbol':
      throw new UnstableArgumentError(path, `a symbol (${String(value)})`);
  }
  if (value === null) return 'N';
  const object = value as object;
  if (seen.has(object)) throw new UnstableArgumentError(path, 'a reference back to one of its own containers (a cycle)');
  if (object instanceof Promise || object instanceof WeakMap || object instanceof WeakSet || object instanceof WeakRef) {
    throw new UnstableArgumentError(path, `a ${object.constructor.name}, which has no value to key by`);
  }
  seen.add(object);
  try {
    if (object instanceof Date) return `d${Number.isNaN(object.getTime()) ? 'invalid' : object.toISOString()}`;
    if (object instanceof RegExp) return `r${String(object)}`;
    // Built-ins whose data sits in internal slots, not in own properties: read by field they would
    // all key alike (every ArrayBuffer as `{}`, every `new Number(n)` as `{}`).
    if (object instanceof ArrayBuffer || (typeof SharedArrayBuffer === 'function' && object instanceof SharedArrayBuffer)) {
      return `a${object.constructor.name}:${Buffer.from(new Uint8Array(object)).toString('base64')}`;
    }
    if (object instanceof Number || object instanceof String || object instanceof Boolean || object instanceof BigInt) return `P${canonical(object.valueOf(), path, seen)}`;
    if (object instanceof Symbol) throw new UnstableArgumentError(path, `a symbol (${String(object.valueOf())})`);
    if (object instanceof URLSearchParams) return `q${JSON.stringify(object.toString())}`;
    if (object instanceof Error) throw new UnstableArgumentError(path, `an ${object.constructor.name}, whose message and stack are not own data to key by`);
    if (ArrayBuffer.isView(object)) return `b${object.constructor.name}:${Buffer.from(object.buffer, object.byteOffset, object.byteLength).toString('base64')}`;
    if (Array.isArray(object)) return `[${object.map((v, i) => canonical(v, `${path}[${i}]`, seen)).join(',')}]`;
    if (object instanceof Map) {
      const entries = [...object].map(([k, v], i) => `${canonical(k, `${path} map key #${i}`, seen)}=>${canonical(v, `${path}.get(${describeKey(k)})`, seen)}`);
      return `M{${entries.sort().join(',')}}`;
    }
    if (object instanceof Set) return `S{${[...object].map((v, i) => canonical(v, `${path} set member #${i}`, seen)).sort().join(',')}}`;
    const toJSON = (object as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function') return `J${canonical(toJSON.call(object), `${path}.toJSON()`, seen)}`;
    // Plain objects and class instances (DTOs) key by their own enumerable data; the class name
    // keeps two classes with the same fields apart.
    const proto = Object.getPrototypeOf(object) as { constructor?: { name?: string } } | null;
    const kind = proto === null || proto === Object.prototype ? '' : (proto.constructor?.name ?? '?');
    const keys = Object.keys(object).sort();
    const fields: string[] = [];
    for (const k of keys) {
      const v = (object as Record<string, unknown>)[k];
      if (v === undefined) continue; // as JSON does: an absent field and an undefined one are the same data
      fields.push(`${JSON.stringify(k)}:${canonical(v, `${path}.${k}`, seen)}`);
    }
    for (const s of Object.getOwnPropertySymbols(object)) {
      if (Object.prototype.propertyIsEnumerable.call(object, s)) throw new UnstableArgumentError(`${path}[${String(s)}]`, 'a symbol-keyed property');
    }
    return `O${kind}{${fields.join(',')}}`;
  } finally {
    seen.delete(object);
  }
}

function describeKey(key: unknown): string {
  return typeof key === 'string' ? JSON.stringify(key) : typeof key;
}
