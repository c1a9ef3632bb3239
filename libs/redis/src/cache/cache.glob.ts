import { compileGlob, escapeGlob } from '../engine/glob.util.js';
import type { StoreEngine } from '../engine/store-engine.port.js';
import { encodeSegment } from './cache.keys.js';

const SCAN_COUNT = 500;

/**
 * A user glob over decoded keys becomes a SCAN pattern over encoded keys (literal runs encoded and
 * escaped, every wildcard widened to `*`) plus an exact test on the decoded key: encoding turns one
 * character into up to 12, so `?` cannot be expressed in the encoded pattern. The exact test is a
 * linear-time glob matcher, never a backtracking RegExp (`*a*a*a*a*a?` cannot stall the loop).
 */
export function compileUserGlob(glob: string): { scanGlob: string; test: (encodedKey: string) => boolean } {
  let scan = '';
  let exact = '';
  let literal = '';
  const flush = () => {
    scan += escapeGlob(encodeSegment(literal));
    exact += escapeGlob(literal);
    literal = '';
  };
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i]!;
    if (ch === '\\' && i + 1 < glob.length) literal += glob[++i]!;
    else if (ch === '*' || ch === '?') {
      flush();
      if (!scan.endsWith('*')) scan += '*';
      exact += ch;
    } else literal += ch;
  }
  flush();
  // Users glob over decoded names: `?` is one character there, not one byte.
  const matcher = compileGlob(exact, 'codepoint');
  return {
    scanGlob: scan,
    test: (encoded) => {
      try {
        return matcher.test(decodeURIComponent(encoded));
      } catch {
        return false;
      }
    },
  };
}

/**
 * UNLINKs the namespace's keys matching `glob` (over encoded keys) in SCAN batches. While Redis
 * serves, the SCAN refuses the fallback's answer: a step that fails mid-way must fail the whole
 * walk (the caller journals or rejects it), not quietly continue over one process's memory.
 */
export async function unlinkMatching(engine: StoreEngine, ns: string, glob: string, test?: (key: string) => boolean, prefix = 'cache'): Promise<number> {
  const base = `${prefix}:${ns}:`;
  let removed = 0;
  const options = engine.mode() === 'redis' ? { count: SCAN_COUNT, fallback: false } : { count: SCAN_COUNT };
  for await (const batch of engine.scan(escapeGlob(base) + glob, options)) {
    const keys = test ? batch.filter((k) => test(k.slice(base.length))) : batch;
    if (keys.length > 0) removed += await engine.del(keys, { replayOnRecovery: true });
  }
  return removed;
}

export async function clearNamespace(engine: StoreEngine, ns: string): Promise<number> {
  const removed = await unlinkMatching(engine, ns, '*');
  // Dropping the tag versions invalidates any entry still carrying them (none should remain).
  await unlinkMatching(engine, ns, '*', undefined, 'cachetag');
  return removed;
}
