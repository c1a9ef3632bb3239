import { describe, expect, it } from '@jest/globals';
import { RedisTimeoutError } from '../redis.errors.js';
import { DeadlineQueue } from './deadline.queue.js';

const never = () => new Promise<never>(() => undefined);
const later = <T>(value: T, ms: number) => new Promise<T>((r) => setTimeout(() => r(value), ms));

describe('DeadlineQueue', () => {
  it('passes through what settles in time, and times out what does not', async () => {
    const q = new DeadlineQueue(50);
    const results = await Promise.allSettled([q.race(later('fast', 5)), q.race(never()), q.race(Promise.reject(new Error('boom'))), q.race(later('slow', 200))]);
    expect(results[0]).toEqual({ status: 'fulfilled', value: 'fast' });
    expect((results[1] as PromiseRejectedResult).reason).toBeInstanceOf(RedisTimeoutError);
    expect((results[2] as PromiseRejectedResult).reason.message).toBe('boom');
    expect((results[3] as PromiseRejectedResult).reason).toBeInstanceOf(RedisTimeoutError);
  });

  it('times out entries added after earlier ones settled', async () => {
    const q = new DeadlineQueue(30);
    await q.race(later(1, 5));
    await expect(q.race(never())).rejects.toBeInstanceOf(RedisTimeoutError);
    await expect(q.race(later(2, 1))).resolves.toBe(2);
  });

  it('rejectAll settles everything pending', async () => {
    const q = new DeadlineQueue(10_000);
    const pending = [q.race(never()), q.race(never())];
    q.rejectAll(new Error('closed'));
    await expect(Promise.all(pending)).rejects.toThrow('closed');
  });
});
