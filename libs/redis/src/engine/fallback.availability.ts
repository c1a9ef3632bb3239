import { RedisTimeoutError, RedisUnavailableError } from '../redis.errors.js';

// Reply errors that mean "this node cannot serve right now", not "your command is wrong".
const UNAVAILABLE_REPLIES = /^(CLUSTERDOWN|LOADING|MASTERDOWN|READONLY|TRYAGAIN|NOREPLICAS|BUSY|MOVED|ASK)\b/;
const UNAVAILABLE_MESSAGES =
  /Connection is closed|Stream isn't writeable|connect E|ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND|Failed to refresh slots cache|None of (the )?startup nodes|Cluster isn't ready|All sentinels are unreachable|Too many Cluster redirections|Connection in subscriber mode/i;

/** True for errors that say Redis is unreachable or busy; false for errors in the command itself. */
export function isAvailabilityError(error: unknown): boolean {
  if (error instanceof RedisTimeoutError || error instanceof RedisUnavailableError) return true;
  if (!(error instanceof Error)) return false;
  if (error.name === 'ReplyError') return UNAVAILABLE_REPLIES.test(error.message);
  if (error.name === 'MaxRetriesPerRequestError' || error.name === 'ClusterAllFailedError') return true;
  const code = (error as NodeJS.ErrnoException).code;
  if (code && /^E(CONN|PIPE|TIMEDOUT|HOSTUNREACH|NOTFOUND|AI_AGAIN)/.test(code)) return true;
  return UNAVAILABLE_MESSAGES.test(error.message);
}

/** The first word of a Redis error that names its kind (OOM, NOPERM...): never the command or its arguments. */
export function replyWord(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return /\b(OOM|NOPERM|MISCONF|NOSCRIPT|WRONGTYPE|NOAUTH|EXECABORT)\b/.exec(message)?.[1] ?? (/^[A-Z]{2,20}\b/.exec(message)?.[0] ?? 'ERR');
}

/** The reason given when the breaker opens: the error's kind and message. */
export function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
