import { RedisPermissionError } from '../redis.errors.js';
import type { ScriptDefinition } from './script.types.js';

/**
 * Turns a Redis ACL refusal into a `RedisPermissionError`; any other error comes back unchanged.
 * Redis 7 says `NOPERM User app has no permissions to run the 'flushall' command` for a command, and
 * `... access one of the keys / channels ...` for data outside the user's patterns. Inside a script it
 * says `The user executing the script can't run this command ... @user_script:<line>`: given the
 * script, the command is read from that line of its source. The command name comes from that text
 * or from ioredis' `error.command.name`; arguments are never read.
 */
export function toPermissionError(error: unknown, script?: ScriptDefinition): unknown {
  if (error instanceof RedisPermissionError || typeof error !== 'object' || error === null) return error;
  const message = (error as Error).message;
  if (typeof message !== 'string') return error;
  const inScript = /user executing the script can't (run this command|access at least one of the (keys|channels))[\s\S]*@user_script:(\d+)/i.exec(message);
  if (inScript) {
    const line = script?.lua.split('\n')[Number(inScript[3]) - 1] ?? '';
    const called = /redis\.p?call\(\s*['"]([A-Za-z|]+)['"]/.exec(line)?.[1]?.toLowerCase() ?? 'a command';
    const refused = inScript[2] === 'channels' ? 'channel' : inScript[2] === 'keys' ? 'key' : 'command';
    return new RedisPermissionError(called, refused, { cause: error, script: script?.name });
  }
  if (!/\bNOPERM\b/.test(message)) return error;
  const named = /permissions to run the '([^']+)' command/i.exec(message)?.[1];
  const sent = (error as { command?: { name?: unknown } }).command?.name;
  const command = (named ?? (typeof sent === 'string' ? sent : 'unknown')).toLowerCase();
  const refused = named ? 'command' : /channel/i.test(message) ? 'channel' : /key/i.test(message) ? 'key' : 'command';
  return new RedisPermissionError(command, refused, { cause: error, script: script?.name });
}
