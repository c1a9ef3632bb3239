/**
 * Every error the library throws on purpose carries a stable `code`, so callers can branch on it
 * without parsing messages.
 */
export class RedisKitError extends Error {
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Bad module options or environment: thrown before any connection is attempted. */
export class RedisConfigError extends RedisKitError {
  constructor(readonly problems: string[]) {
    super(
      'E_REDIS_CONFIG',
      problems.length === 1
        ? `Invalid Redis configuration: ${problems[0]}`
        : `Invalid Redis configuration:\n- ${problems.join('\n- ')}`,
    );
  }
}

/** Redis could not answer within the deadline and no fallback is configured (or allowed). */
export class RedisUnavailableError extends RedisKitError {
  constructor(message = 'Redis is unavailable', options?: { cause?: unknown }) {
    super('E_REDIS_UNAVAILABLE', message, options);
  }
}

/** A command did not settle within `commandTimeoutMs`; its outcome on the server is unknown. */
export class RedisTimeoutError extends RedisKitError {
  constructor(timeoutMs: number) {
    super('E_REDIS_TIMEOUT', `Redis did not answer within ${timeoutMs} ms`);
  }
}

/**
 * A write made while Redis is away could not be kept for replay because its journal is full
 * (`breaker.securityJournalLimit` for revocations and denies, `breaker.journalLimit` for session
 * creations). Nothing was written: retry later, or refuse the operation.
 */
export class JournalFullError extends RedisKitError {
  constructor(
    readonly journal: string,
    limit: number,
  ) {
    super('E_JOURNAL_FULL', `Redis is unavailable and the ${journal} journal is full (${limit} writes waiting for Redis); nothing was written`);
  }
}

/** `clear()` was refused: without a `keyPrefix` it would empty the whole database, and it is never journaled. */
export class ClearRefusedError extends RedisKitError {
  constructor(message: string) {
    super('E_CLEAR_REFUSED', message);
  }
}

/** The in-memory store refused a write that can never fit its bounds. */
export class MemoryLimitError extends RedisKitError {
  constructor(message: string) {
    super('E_MEMORY_LIMIT', message);
  }
}

/**
 * Redis refused a command for the connection's ACL user (`NOPERM`). A configuration problem, not an
 * outage: it is thrown to the caller every time (never answered from the fallback, never counted
 * against the breaker), naming the command (never its arguments) and what to grant.
 */
export class RedisPermissionError extends RedisKitError {
  constructor(
    /** The command Redis refused, lower case (`evalsha` for a script; the message names the inner one when Redis says). */
    readonly command: string,
    /** What was refused: a command, a key or a channel. */
    readonly refused: 'command' | 'key' | 'channel',
    options?: { cause?: unknown; script?: string },
  ) {
    const where = options?.script ? ` (in script ${options.script})` : '';
    super(
      'E_REDIS_NOPERM',
      refused === 'command'
        ? `Redis ACL: this user may not run '${command}'${where} (NOPERM). Grant it (ACL SETUSER <user> +${command}); redisAclRule() gives the full least-privilege rule (docs/operations.md, "ACL user")`
        : `Redis ACL: '${command}'${where} touched a ${refused} outside this user's ${refused === 'key' ? '~<keyPrefix>*' : '&<keyPrefix>*'} patterns (NOPERM). Check keyPrefix against the ACL (redisAclRule(), docs/operations.md, "ACL user")`,
      options,
    );
  }
}
