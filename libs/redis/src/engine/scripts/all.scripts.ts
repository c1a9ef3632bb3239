import type { ScriptDefinition } from '../script.registry.js';
import { CACHE_LOAD_BEGIN, CACHE_LOCK_FAIL, CACHE_TAG_VERSION, CACHE_WRITE } from './cache.scripts.js';
import { COLLECTION_WRITE } from './collections.scripts.js';
import { COUNTER_INCR, LOCK_EXTEND, LOCK_RELEASE } from './engine.scripts.js';
import { HISTORY_APPEND } from './history.scripts.js';
import { PRESENCE_STATUS, PRESENCE_SYNC, PRESENCE_USER } from './presence.scripts.js';
import { rateLimitBatchScript, rateLimitCheckScript } from './rate-limit.scripts.js';
import {
  DENYLIST_ADD,
  SESSION_COUNT,
  SESSION_CREATE,
  SESSION_FORGET,
  SESSION_REFRESH,
  SESSION_REVOKE,
  SESSION_TOUCH,
  sessionListScript,
  sessionRevokeAllScript,
} from './session.scripts.js';

/**
 * Every script the library defines, listed once. The script contract suite
 * (libs/redis/test/scripts) runs each entry's Lua on Redis and its twin in memory on the same
 * seeded inputs and requires the same replies and the same resulting state; it fails for an entry
 * that has no input generator there. A new script is covered by being added here.
 *
 * The rate-limit check is one Lua and one twin under a command per policy count (1 to
 * MAX_POLICIES_PER_CALL); the variants listed are the counts the suite drives, and the same for the
 * batch the rate limiter sends for several requests of one subject. Likewise session
 * revokeAll and list, one command per number of session records they declare, and the session
 * count, one command per number of live sets (the service uses one, or all of them at once).
 */
export const ALL_SCRIPTS: readonly ScriptDefinition[] = [
  LOCK_RELEASE,
  LOCK_EXTEND,
  COUNTER_INCR,
  CACHE_LOCK_FAIL,
  CACHE_LOAD_BEGIN,
  CACHE_WRITE,
  CACHE_TAG_VERSION,
  SESSION_CREATE,
  SESSION_TOUCH,
  SESSION_REVOKE,
  SESSION_FORGET,
  sessionRevokeAllScript(0),
  sessionRevokeAllScript(1),
  sessionRevokeAllScript(2),
  SESSION_REFRESH,
  sessionListScript(0),
  sessionListScript(1),
  sessionListScript(2),
  SESSION_COUNT,
  DENYLIST_ADD,
  rateLimitCheckScript(1),
  rateLimitCheckScript(2),
  rateLimitCheckScript(3),
  rateLimitBatchScript(1),
  rateLimitBatchScript(2),
  rateLimitBatchScript(3),
  COLLECTION_WRITE,
  HISTORY_APPEND,
  PRESENCE_SYNC,
  PRESENCE_USER,
  PRESENCE_STATUS,
];
