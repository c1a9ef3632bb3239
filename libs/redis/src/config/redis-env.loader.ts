import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { Logger } from '@nestjs/common';
import { Expose, plainToInstance, Transform } from 'class-transformer';
import { IsOptional, ValidateBy, validateSync, type ValidationArguments } from 'class-validator';
import { RedisConfigError } from '../redis.errors.js';
import type { RedisModuleOptions, RedisNodeAddress } from '../redis.options.js';

/** Variables read by `redisOptionsFromEnv`, in the order the README documents them. */
export const REDIS_ENV_VARIABLES = [
  'REDIS_URL',
  'REDIS_HOST',
  'REDIS_PORT',
  'REDIS_USERNAME',
  'REDIS_PASSWORD',
  'REDIS_DB',
  'REDIS_TLS',
  'REDIS_TLS_CA_FILE',
  'REDIS_TLS_CERT_FILE',
  'REDIS_TLS_KEY_FILE',
  'REDIS_TLS_SERVERNAME',
  'REDIS_TLS_REJECT_UNAUTHORIZED',
  'REDIS_TLS_ALLOW_INSECURE',
  'REDIS_KEY_PREFIX',
  'REDIS_SENTINELS',
  'REDIS_SENTINEL_NAME',
  'REDIS_SENTINEL_USERNAME',
  'REDIS_SENTINEL_PASSWORD',
  'REDIS_CLUSTER_NODES',
  'REDIS_FALLBACK',
  'REDIS_COMMAND_TIMEOUT_MS',
  'REDIS_SESSION_SECRET',
] as const;

type EnvName = (typeof REDIS_ENV_VARIABLES)[number] | 'NODE_ENV';
/** Where `redisOptionsFromEnv` reads variables: `process.env`, a plain object, or anything with `get(key)` such as `ConfigService`. */
export type EnvSource = Readonly<Record<string, string | undefined>> | { get(key: string): unknown };

const TRUE = ['true', '1', 'yes', 'on'];
const FALSE = ['false', '0', 'no', 'off'];

/**
 * One rule per variable. `secret` rules never echo the value: a URL or password must not reach a
 * log through a validation message.
 */
function Rule(test: (value: string) => boolean, expectation: string, secret = false): PropertyDecorator {
  return ValidateBy({
    name: 'redisEnv',
    validator: {
      validate: (value: unknown) => typeof value === 'string' && test(value),
      defaultMessage: (args?: ValidationArguments) =>
        `${args?.property} ${expectation}${secret ? '' : ` (got ${JSON.stringify(args?.value)})`}`,
    },
  });
}

const isInt = (min: number, max: number) => (v: string) => /^\d+$/.test(v) && Number(v) >= min && Number(v) <= max;
const isAddressList = (v: string) => v.split(',').every((part) => parseAddress(part.trim()) !== undefined);
const isRedisUrl = (v: string) => {
  try {
    const url = new URL(v);
    return (url.protocol === 'redis:' || url.protocol === 'rediss:') && url.hostname !== '' && (url.pathname === '' || /^\/\d*$/.test(url.pathname));
  } catch {
    return false;
  }
};

// Blank values count as unset, as most .env tooling writes `KEY=` for "not configured".
const trimmed = () => Transform(({ value }) => (typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined));

class RedisEnvironment {
  @Expose() @trimmed() @IsOptional() @Rule(isRedisUrl, 'must be a redis:// or rediss:// URL such as redis://user:password@host:6379/0', true)
  REDIS_URL?: string;

  @Expose() @trimmed() @IsOptional() @Rule((v) => /^[^\s/:@]+$|^\[[0-9a-fA-F:.]+\]$|^[0-9a-fA-F:]+:[0-9a-fA-F:.]*$/.test(v), 'must be a host name or IP address')
  REDIS_HOST?: string;

  @Expose() @trimmed() @IsOptional() @Rule(isInt(1, 65_535), 'must be an integer from 1 to 65535')
  REDIS_PORT?: string;

  @Expose() @trimmed() @IsOptional() @Rule((v) => !/\s/.test(v), 'must not contain spaces')
  REDIS_USERNAME?: string;

  // Kept verbatim (a password may end in a space); only an empty value counts as unset.
  @Expose() @Transform(({ value }) => (value === '' ? undefined : value)) @IsOptional() @Rule((v) => v.length > 0, 'must not be empty when set', true)
  REDIS_PASSWORD?: string;

  @Expose() @trimmed() @IsOptional() @Rule(isInt(0, 1_000_000), 'must be a non-negative integer')
  REDIS_DB?: string;

  @Expose() @trimmed() @IsOptional() @Rule((v) => [...TRUE, ...FALSE].includes(v.toLowerCase()), 'must be true or false')
  REDIS_TLS?: string;

  @Expose() @trimmed() @IsOptional() @Rule((v) => v.length > 0, 'must be the path of a PEM file with the CA certificate(s)')
  REDIS_TLS_CA_FILE?: string;

  @Expose() @trimmed() @IsOptional() @Rule((v) => v.length > 0, 'must be the path of a PEM file with the client certificate')
  REDIS_TLS_CERT_FILE?: string;

  @Expose() @trimmed() @IsOptional() @Rule((v) => v.length > 0, 'must be the path of a PEM file with the client private key')
  REDIS_TLS_KEY_FILE?: string;

  @Expose() @trimmed() @IsOptional() @Rule((v) => /^[A-Za-z0-9.-]+$/.test(v), 'must be a DNS host name (letters, digits, dots, hyphens)')
  REDIS_TLS_SERVERNAME?: string;

  @Expose() @trimmed() @IsOptional() @Rule((v) => [...TRUE, ...FALSE].includes(v.toLowerCase()), 'must be true or false')
  REDIS_TLS_REJECT_UNAUTHORIZED?: string;

  @Expose() @trimmed() @IsOptional() @Rule((v) => [...TRUE, ...FALSE].includes(v.toLowerCase()), 'must be true or false')
  REDIS_TLS_ALLOW_INSECURE?: string;

  @Expose() @trimmed() @IsOptional() @Rule((v) => !/\s/.test(v), 'must not contain spaces')
  REDIS_SENTINEL_USERNAME?: string;

  @Expose() @Transform(({ value }) => (value === '' ? undefined : value)) @IsOptional() @Rule((v) => v.length > 0, 'must not be empty when set', true)
  REDIS_SENTINEL_PASSWORD?: string;

  @Expose() @trimmed() @IsOptional()
  NODE_ENV?: string;

  @Expose() @trimmed() @IsOptional() @Rule((v) => !/[{}*?[\]\\\s]/.test(v), 'must not contain spaces, {, }, *, ?, [, ] or \\')
  REDIS_KEY_PREFIX?: string;

  @Expose() @trimmed() @IsOptional() @Rule(isAddressList, 'must be a comma-separated list of host:port')
  REDIS_SENTINELS?: string;

  @Expose() @trimmed() @IsOptional() @Rule((v) => /^\S+$/.test(v), 'must be the master group name, without spaces')
  REDIS_SENTINEL_NAME?: string;

  @Expose() @trimmed() @IsOptional() @Rule(isAddressList, 'must be a comma-separated list of host:port')
  REDIS_CLUSTER_NODES?: string;

  @Expose() @trimmed() @IsOptional() @Rule((v) => v === 'memory' || v === 'none', "must be 'memory' or 'none'")
  REDIS_FALLBACK?: string;

  @Expose() @trimmed() @IsOptional() @Rule(isInt(1, 600_000), 'must be an integer number of milliseconds from 1 to 600000')
  REDIS_COMMAND_TIMEOUT_MS?: string;

  @Expose() @trimmed() @IsOptional() @Rule((v) => v.length >= 32, 'must be at least 32 characters (e.g. 32 random bytes in base64)', true)
  REDIS_SESSION_SECRET?: string;
}

/** Options of {@link redisOptionsFromEnv}. */
export interface RedisEnvOptions {
  /**
   * Prepended to every variable name, for a second connection: `{ prefix: 'SESSIONS_' }` reads
   * `SESSIONS_REDIS_URL`, `SESSIONS_REDIS_HOST`, ... (the same list, the same rules). Letters,
   * digits and `_` only; default none.
   */
  prefix?: string;
}

/**
 * Reads the `REDIS_*` variables (from `process.env`, a plain object or a `ConfigService`) and turns
 * them into module options. A bad value stops start-up with one message naming the variable and
 * what is wrong with it. With no variable set, the result selects the embedded in-memory store.
 */
export function redisOptionsFromEnv(source: EnvSource = process.env, envOptions: RedisEnvOptions = {}): RedisModuleOptions {
  const prefix = envOptions?.prefix ?? '';
  if (typeof prefix !== 'string' || !/^[A-Za-z0-9_]*$/.test(prefix)) {
    throw new RedisConfigError([`redisOptionsFromEnv: prefix must contain only letters, digits and _ (got ${JSON.stringify(prefix)})`]);
  }
  const raw: Partial<Record<EnvName, unknown>> = {};
  for (const name of [...REDIS_ENV_VARIABLES, 'NODE_ENV'] as const) {
    // NODE_ENV is the process's own, never prefixed.
    const key = name === 'NODE_ENV' ? name : prefix + name;
    const value = typeof source.get === 'function' ? (source as { get(k: string): unknown }).get(key) : (source as Record<string, unknown>)[key];
    if (value !== undefined && value !== null) raw[name] = typeof value === 'string' ? value : String(value);
  }
  const env = plainToInstance(RedisEnvironment, raw, { excludeExtraneousValues: true });
  const problems = validateSync(env).flatMap((error) => Object.values(error.constraints ?? {}));

  const has = (name: EnvName) => env[name] !== undefined;
  const conflict = (a: EnvName, b: EnvName) => has(a) && has(b) && problems.push(`${a} and ${b} are both set: choose one way to reach Redis`);
  conflict('REDIS_CLUSTER_NODES', 'REDIS_URL');
  conflict('REDIS_CLUSTER_NODES', 'REDIS_HOST');
  conflict('REDIS_CLUSTER_NODES', 'REDIS_SENTINELS');
  conflict('REDIS_SENTINELS', 'REDIS_URL');
  conflict('REDIS_SENTINELS', 'REDIS_HOST');
  conflict('REDIS_URL', 'REDIS_HOST');
  if (has('REDIS_SENTINELS') && !has('REDIS_SENTINEL_NAME')) problems.push('REDIS_SENTINELS is set but REDIS_SENTINEL_NAME is missing: name the master group the sentinels monitor');
  if (has('REDIS_SENTINEL_NAME') && !has('REDIS_SENTINELS')) problems.push('REDIS_SENTINEL_NAME is set but REDIS_SENTINELS is missing: list the sentinels as host:port,host:port');
  if (has('REDIS_CLUSTER_NODES') && has('REDIS_DB') && env.REDIS_DB !== '0') problems.push('REDIS_DB cannot be used with REDIS_CLUSTER_NODES: Redis Cluster only has database 0');
  if ((has('REDIS_SENTINEL_USERNAME') || has('REDIS_SENTINEL_PASSWORD')) && !has('REDIS_SENTINELS')) {
    problems.push(`${has('REDIS_SENTINEL_USERNAME') ? 'REDIS_SENTINEL_USERNAME' : 'REDIS_SENTINEL_PASSWORD'} is set but REDIS_SENTINELS is missing: it is the login of the sentinels themselves`);
  }
  const tls = tlsFromEnv(env, problems);
  // Messages name the variable as the user spelled it, prefix included.
  const known = new Set<string>(REDIS_ENV_VARIABLES);
  if (problems.length > 0) throw new RedisConfigError(prefix ? problems.map((p) => p.replace(/\bREDIS_[A-Z_]+\b/g, (n) => (known.has(n) ? prefix + n : n))) : problems);

  const options: RedisModuleOptions = {};
  if (env.REDIS_URL) options.url = env.REDIS_URL;
  if (env.REDIS_HOST) options.host = env.REDIS_HOST.replace(/^\[(.*)\]$/, '$1');
  if (env.REDIS_PORT) options.port = Number(env.REDIS_PORT);
  if (env.REDIS_USERNAME) options.username = env.REDIS_USERNAME;
  if (env.REDIS_PASSWORD) options.password = env.REDIS_PASSWORD;
  if (env.REDIS_DB) options.db = Number(env.REDIS_DB);
  if (env.REDIS_TLS) options.tls = TRUE.includes(env.REDIS_TLS.toLowerCase());
  if (tls) options.tls = tls;
  if (env.REDIS_KEY_PREFIX) options.keyPrefix = env.REDIS_KEY_PREFIX;
  if (env.REDIS_SENTINELS) {
    options.sentinel = { name: env.REDIS_SENTINEL_NAME!, sentinels: parseAddressList(env.REDIS_SENTINELS) };
    if (env.REDIS_SENTINEL_USERNAME) options.sentinel.sentinelUsername = env.REDIS_SENTINEL_USERNAME;
    if (env.REDIS_SENTINEL_PASSWORD) options.sentinel.sentinelPassword = env.REDIS_SENTINEL_PASSWORD;
  }
  if (env.REDIS_CLUSTER_NODES) options.cluster = { nodes: parseAddressList(env.REDIS_CLUSTER_NODES) };
  if (env.REDIS_FALLBACK) options.fallback = env.REDIS_FALLBACK as 'memory' | 'none';
  if (env.REDIS_COMMAND_TIMEOUT_MS) options.commandTimeoutMs = Number(env.REDIS_COMMAND_TIMEOUT_MS);
  if (env.REDIS_SESSION_SECRET) options.session = { secret: env.REDIS_SESSION_SECRET };
  return options;
}

const TLS_DETAIL_VARIABLES = ['REDIS_TLS_CA_FILE', 'REDIS_TLS_CERT_FILE', 'REDIS_TLS_KEY_FILE', 'REDIS_TLS_SERVERNAME', 'REDIS_TLS_REJECT_UNAUTHORIZED'] as const;

/**
 * The TLS details: files are read now, so a missing or unreadable one stops start-up naming the
 * variable (never later, on the first reconnect). Any of them turns TLS on; `REDIS_TLS=false` next to
 * them is a contradiction. Turning certificate checks off is refused outside NODE_ENV=development
 * unless REDIS_TLS_ALLOW_INSECURE=true says it is meant, and then it is logged as a warning.
 */
function tlsFromEnv(env: RedisEnvironment, problems: string[]): ConnectionOptions | undefined {
  const set = TLS_DETAIL_VARIABLES.filter((name) => env[name] !== undefined);
  if (set.length === 0) {
    if (env.REDIS_TLS_ALLOW_INSECURE !== undefined) problems.push('REDIS_TLS_ALLOW_INSECURE is set but REDIS_TLS_REJECT_UNAUTHORIZED is not: it only confirms REDIS_TLS_REJECT_UNAUTHORIZED=false');
    return undefined;
  }
  if (env.REDIS_TLS !== undefined && FALSE.includes(env.REDIS_TLS.toLowerCase())) {
    problems.push(`REDIS_TLS is false but ${set.join(', ')} ${set.length === 1 ? 'is' : 'are'} set: remove REDIS_TLS=false to use TLS, or unset the TLS variables`);
    return undefined;
  }
  const tls: ConnectionOptions = {};
  const file = (name: 'REDIS_TLS_CA_FILE' | 'REDIS_TLS_CERT_FILE' | 'REDIS_TLS_KEY_FILE', kind: RegExp, what: string): Buffer | undefined => {
    const path = env[name];
    if (path === undefined) return undefined;
    let content: Buffer;
    try {
      content = readFileSync(path);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'is not readable by this process' : code === 'EISDIR' ? 'is a directory' : `cannot be read (${code ?? 'error'})`;
      problems.push(`${name} names a file that ${why}: ${JSON.stringify(path)}`);
      return undefined;
    }
    // The content is never echoed: a key file is a secret.
    if (!kind.test(content.toString('latin1'))) problems.push(`${name} (${JSON.stringify(path)}) does not contain a PEM ${what}`);
    return content;
  };
  const ca = file('REDIS_TLS_CA_FILE', /-----BEGIN CERTIFICATE-----/, 'certificate (-----BEGIN CERTIFICATE-----)');
  const cert = file('REDIS_TLS_CERT_FILE', /-----BEGIN CERTIFICATE-----/, 'certificate (-----BEGIN CERTIFICATE-----)');
  const key = file('REDIS_TLS_KEY_FILE', /-----BEGIN [A-Z ]*PRIVATE KEY-----/, 'private key (-----BEGIN ... PRIVATE KEY-----)');
  if (ca) tls.ca = ca;
  if (cert) tls.cert = cert;
  if (key) tls.key = key;
  if ((env.REDIS_TLS_CERT_FILE === undefined) !== (env.REDIS_TLS_KEY_FILE === undefined)) {
    problems.push(env.REDIS_TLS_CERT_FILE === undefined ? 'REDIS_TLS_KEY_FILE is set but REDIS_TLS_CERT_FILE is missing: a client key needs its certificate' : 'REDIS_TLS_CERT_FILE is set but REDIS_TLS_KEY_FILE is missing: a client certificate needs its private key');
  }
  if (env.REDIS_TLS_SERVERNAME) tls.servername = env.REDIS_TLS_SERVERNAME;
  if (env.REDIS_TLS_REJECT_UNAUTHORIZED !== undefined && FALSE.includes(env.REDIS_TLS_REJECT_UNAUTHORIZED.toLowerCase())) {
    const forced = env.REDIS_TLS_ALLOW_INSECURE !== undefined && TRUE.includes(env.REDIS_TLS_ALLOW_INSECURE.toLowerCase());
    if (env.NODE_ENV !== 'development' && !forced) {
      problems.push(
        `REDIS_TLS_REJECT_UNAUTHORIZED=false turns off the server certificate check (anyone on the path can read and change the traffic); it is refused outside NODE_ENV=development: give the CA with REDIS_TLS_CA_FILE, or set REDIS_TLS_ALLOW_INSECURE=true to force it`,
      );
    } else {
      new Logger('Redis').warn('REDIS_TLS_REJECT_UNAUTHORIZED=false: the Redis server certificate is NOT verified; use REDIS_TLS_CA_FILE instead outside development');
    }
    tls.rejectUnauthorized = false;
  }
  return tls;
}

/** `host:port`, `[v6]:port`; the port is required so a typo cannot silently pick 6379. */
function parseAddress(text: string): RedisNodeAddress | undefined {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^\s:[\]]+)):(\d{1,5})$/.exec(text);
  if (!match) return undefined;
  const port = Number(match[3]);
  if (port < 1 || port > 65_535) return undefined;
  return { host: match[1] ?? match[2]!, port };
}

function parseAddressList(text: string): RedisNodeAddress[] {
  return text.split(',').map((part) => parseAddress(part.trim())!);
}
