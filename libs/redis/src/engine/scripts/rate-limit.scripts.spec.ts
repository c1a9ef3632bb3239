import { describe, expect, it } from '@jest/globals';
import type { RateLimitAlgorithm } from '../../rate-limit/rate-limit.options.js';
import { MemoryStore } from '../memory.store.js';
import { RATE_LIMIT_ALGORITHM_CODE, rateLimitCheckTwin } from './rate-limit.scripts.js';

// The twin's algorithms on an explicit clock. That the Lua gives the same replies and state is
// proven by the script contract suite (libs/redis/test/scripts).

interface P {
  algorithm: RateLimitAlgorithm;
  limit: number;
  windowMs: number;
  cost?: number;
}

const args = (now: number, policies: P[]) => [now, ...policies.flatMap((p) => [RATE_LIMIT_ALGORITHM_CODE[p.algorithm], p.limit, p.windowMs, p.cost ?? 1])];

/** Runs the twin directly on a store at an explicit time; returns the reply as numbers. */
function twin(store: MemoryStore, keys: string[], now: number, policies: P[]): number[] {
  return rateLimitCheckTwin(store, keys, args(now, policies).map(String), now) as number[];
}

/** One policy's part of a reply. */
const part = (reply: number[], i: number) => ({ ok: reply[2 + i * 4], remaining: reply[3 + i * 4], resetMs: reply[4 + i * 4], retryMs: reply[5 + i * 4] });

// Far enough in the future that Redis never expires a key before the simulated clock is done with it.
const T0 = Math.ceil((Date.now() + 3_600_000) / 10_000) * 10_000;

describe('rate-limit check script: algorithms (twin, explicit clock)', () => {
  it('sliding window: the limit, an exact retry time, and admission exactly at that time', () => {
    const store = new MemoryStore(1000, 1 << 20);
    const p: P[] = [{ algorithm: 'sliding-window', limit: 5, windowMs: 1000 }];
    for (let i = 0; i < 5; i++) expect(part(twin(store, ['k'], T0 + i, p), 0)).toMatchObject({ ok: 1, remaining: 4 - i });
    const refused = twin(store, ['k'], T0 + 10, p);
    expect(refused[1]).toBe(0);
    // 5 hits in bucket 0; in bucket 1 they weigh 5 x (1000 - e) / 1000, which leaves room for one at e = 200.
    expect(part(refused, 0)).toEqual({ ok: 0, remaining: 0, resetMs: 1990, retryMs: 1190 });
    expect(twin(store, ['k'], T0 + 10 + 1189, p)[1]).toBe(0);
    expect(part(twin(store, ['k'], T0 + 10 + 1190, p), 0)).toMatchObject({ ok: 1, remaining: 0 });
  });

  it('sliding window: traffic of the previous window decays smoothly instead of resetting at the edge', () => {
    const store = new MemoryStore(1000, 1 << 20);
    const p: P[] = [{ algorithm: 'sliding-window', limit: 10, windowMs: 1000 }];
    for (let i = 0; i < 10; i++) twin(store, ['k'], T0 + 900, p);
    // Just past the edge a fixed window would allow 10 more; the sliding estimate allows none.
    expect(part(twin(store, ['k'], T0 + 1000, p), 0).ok).toBe(0);
    // Half-way through the next window, half the previous weight is left: 5 more pass, not 6.
    let passed = 0;
    for (let i = 0; i < 8; i++) passed += twin(store, ['k'], T0 + 1500, p)[1]!;
    expect(passed).toBe(5);
  });

  it('fixed window: anchored at the first hit, refused until it ends', () => {
    const store = new MemoryStore(1000, 1 << 20);
    const p: P[] = [{ algorithm: 'fixed-window', limit: 3, windowMs: 1000 }];
    for (let i = 0; i < 3; i++) expect(part(twin(store, ['k'], T0 + 250 + i, p), 0)).toMatchObject({ ok: 1, remaining: 2 - i, resetMs: 1000 - i });
    expect(part(twin(store, ['k'], T0 + 700, p), 0)).toEqual({ ok: 0, remaining: 0, resetMs: 550, retryMs: 550 });
    expect(twin(store, ['k'], T0 + 1249, p)[1]).toBe(0);
    expect(part(twin(store, ['k'], T0 + 1250, p), 0)).toMatchObject({ ok: 1, remaining: 2, resetMs: 1000 });
  });

  it('token bucket (GCRA): a burst of limit, then one token per window/limit', () => {
    const store = new MemoryStore(1000, 1 << 20);
    const p: P[] = [{ algorithm: 'token-bucket', limit: 4, windowMs: 1000 }];
    for (let i = 0; i < 4; i++) expect(part(twin(store, ['k'], T0, p), 0)).toMatchObject({ ok: 1, remaining: 3 - i, resetMs: 250 * (i + 1) });
    expect(part(twin(store, ['k'], T0, p), 0)).toEqual({ ok: 0, remaining: 0, resetMs: 1000, retryMs: 250 });
    expect(twin(store, ['k'], T0 + 249, p)[1]).toBe(0);
    expect(part(twin(store, ['k'], T0 + 250, p), 0)).toMatchObject({ ok: 1, remaining: 0 });
    // Fractional emission intervals (1000/3 ms) stay exact: the next token is due at 333.33 ms.
    const q: P[] = [{ algorithm: 'token-bucket', limit: 3, windowMs: 1000 }];
    for (let i = 0; i < 3; i++) twin(store, ['b'], T0, q);
    expect(part(twin(store, ['b'], T0 + 333, q), 0)).toMatchObject({ ok: 0, retryMs: 1 });
    expect(part(twin(store, ['b'], T0 + 334, q), 0)).toMatchObject({ ok: 1, remaining: 0 });
  });

  it('several policies: charged only when all allow; a refused request costs nothing', () => {
    const store = new MemoryStore(1000, 1 << 20);
    const p: P[] = [
      { algorithm: 'fixed-window', limit: 2, windowMs: 1000 },
      { algorithm: 'sliding-window', limit: 10, windowMs: 60_000 },
    ];
    expect(twin(store, ['a', 'b'], T0, p)[1]).toBe(1);
    expect(twin(store, ['a', 'b'], T0, p)[1]).toBe(1);
    for (let i = 0; i < 5; i++) {
      const r = twin(store, ['a', 'b'], T0 + 1, p);
      expect(r[1]).toBe(0);
      expect(part(r, 0).ok).toBe(0);
      // The second policy would allow it, and still shows 8 left: the refusals were not charged.
      expect(part(r, 1)).toMatchObject({ ok: 1, remaining: 8, retryMs: 0 });
    }
  });

  it('cost: a request may consume several units', () => {
    const store = new MemoryStore(1000, 1 << 20);
    const p: P[] = [{ algorithm: 'fixed-window', limit: 5, windowMs: 1000, cost: 3 }];
    expect(part(twin(store, ['k'], T0, p), 0)).toMatchObject({ ok: 1, remaining: 2 });
    expect(part(twin(store, ['k'], T0, p), 0)).toMatchObject({ ok: 0, remaining: 2 });
    expect(part(twin(store, ['k'], T0, [{ ...p[0]!, cost: 2 }]), 0)).toMatchObject({ ok: 1, remaining: 0 });
  });
});
