import { RedisConfigError } from '../redis.errors.js';

/** The `history` section of the module options (`MessageHistory`). */
export interface HistoryOptions {
  /** Messages kept per room; older ones are trimmed as new ones arrive (exactly, not approximately). Default 1000. */
  maxLength?: number;
  /** Largest message accepted, in UTF-8 bytes of `from` plus `body`. Default 16384. */
  maxMessageBytes?: number;
}

/** `HistoryOptions` with the defaults applied. */
export interface ResolvedHistoryOptions {
  maxLength: number;
  maxMessageBytes: number;
}

/** The defaults of `HistoryOptions`. */
export const HISTORY_DEFAULTS: Readonly<Required<HistoryOptions>> = { maxLength: 1000, maxMessageBytes: 16_384 };

/** Applies the defaults and validates; a bad value stops start-up naming the option. */
export function resolveHistoryOptions(options: HistoryOptions | undefined): ResolvedHistoryOptions {
  const o = options ?? {};
  const problems: string[] = [];
  const maxLength = o.maxLength ?? HISTORY_DEFAULTS.maxLength;
  if (!Number.isSafeInteger(maxLength) || maxLength < 1) problems.push(`history.maxLength must be a positive integer (got ${String(o.maxLength)})`);
  const maxMessageBytes = o.maxMessageBytes ?? HISTORY_DEFAULTS.maxMessageBytes;
  // Redis caps one argument at 512 MB; a chat message near that is a mistake in the option.
  if (!Number.isSafeInteger(maxMessageBytes) || maxMessageBytes < 1 || maxMessageBytes > 64 * 1024 * 1024) {
    problems.push(`history.maxMessageBytes must be an integer from 1 to 67108864 (got ${String(o.maxMessageBytes)})`);
  }
  if (problems.length > 0) throw new RedisConfigError(problems);
  return { maxLength, maxMessageBytes };
}
