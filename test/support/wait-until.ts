import { setTimeout as sleep } from 'node:timers/promises';

export interface WaitOptions {
  /** Hard upper bound: every wait in the harness is a bounded poll. */
  readonly timeoutMs: number;
  readonly intervalMs?: number;
  /** Completes the sentence "Timed out after N ms waiting for …". */
  readonly what: string;
}

/**
 * Polls `probe` until it returns something other than `undefined`/`false`. A probe that throws counts
 * as "not yet": its message is kept so a timeout says what was still wrong, not just that time ran out.
 */
export async function waitUntil<T>(
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  { timeoutMs, intervalMs = 50, what }: WaitOptions,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastReason = '';
  for (;;) {
    try {
      const result = await probe();
      if (result !== undefined && result !== false) return result;
      lastReason = '';
    } catch (error) {
      lastReason = error instanceof Error ? error.message : String(error);
    }
    if (Date.now() + intervalMs > deadline) {
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}${lastReason ? `; last state: ${lastReason}` : ''}`);
    }
    await sleep(intervalMs);
  }
}
