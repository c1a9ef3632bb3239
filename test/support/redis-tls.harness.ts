import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ConnectionOptions } from 'node:tls';

import { freePort } from './free-port.js';
import { removeTrackedDir, trackProcess } from './process-registry.js';
import { ensureRedisBinaries } from './redis-install.js';
import { LOG_FILE, LOOPBACK, makeTempDir, redisCommand } from './redis-server.harness.js';

/**
 * TLS for tests: certificates made at test time with `openssl` (nothing secret is committed) and
 * `redis-server` / `redis-sentinel` listening on a TLS port only (`--port 0`), on loopback.
 */
export interface TlsCertificates {
  readonly dir: string;
  /** The CA that signed the server and client certificates. */
  readonly caFile: string;
  /** Server certificate for 127.0.0.1 and localhost (serverAuth + clientAuth, so replication/sentinel links can use it too). */
  readonly serverCertFile: string;
  readonly serverKeyFile: string;
  /** Client certificate signed by the same CA (for `tls-auth-clients yes`). */
  readonly clientCertFile: string;
  readonly clientKeyFile: string;
  /** A second, unrelated CA: trusting it instead of `caFile` must fail the handshake. */
  readonly otherCaFile: string;
  /** A client certificate signed by the unrelated CA: a server demanding client certificates refuses it. */
  readonly strangerCertFile: string;
  readonly strangerKeyFile: string;
  /** A server certificate signed by the CA that expired in 2020 (made with `openssl ca -startdate/-enddate`). */
  readonly expiredServerCertFile: string;
  readonly expiredServerKeyFile: string;
  /** What a client needs to talk to the test servers: CA + client certificate. */
  clientTls(overrides?: ConnectionOptions): ConnectionOptions;
}

const OPENSSL_HINT = 'install it with: sudo apt-get install -y openssl';

function openssl(args: string[], cwd: string): void {
  const result = spawnSync('openssl', args, { cwd, encoding: 'utf8', timeout: 30_000 });
  if (result.error !== undefined) {
    throw new Error(`openssl could not be run (${result.error.message}): the TLS tests generate their certificates with it; ${OPENSSL_HINT}`);
  }
  if (result.status !== 0) throw new Error(`openssl ${args[0]} failed (exit ${result.status}): ${result.stderr}`);
}

/** P-256 keys: quick to make, and accepted by Redis' OpenSSL build. */
function newKey(cwd: string, file: string): void {
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', file], cwd);
}

function newCa(cwd: string, name: string, cn: string): void {
  newKey(cwd, `${name}.key`);
  openssl(['req', '-x509', '-new', '-key', `${name}.key`, '-sha256', '-days', '3', '-subj', `/CN=${cn}`, '-out', `${name}.crt`], cwd);
}

function newLeaf(cwd: string, name: string, ca: string, cn: string, extensions: string): void {
  newKey(cwd, `${name}.key`);
  openssl(['req', '-new', '-key', `${name}.key`, '-subj', `/CN=${cn}`, '-out', `${name}.csr`], cwd);
  writeFileSync(join(cwd, `${name}.ext`), extensions);
  openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-days', '2', '-sha256', '-extfile', `${name}.ext`, '-out', `${name}.crt`], cwd);
}

/** A server certificate valid only in January 2020: `openssl x509` cannot backdate, `openssl ca` can. */
function newExpiredLeaf(cwd: string, name: string, ca: string): void {
  newKey(cwd, `${name}.key`);
  openssl(['req', '-new', '-key', `${name}.key`, '-subj', '/CN=localhost', '-out', `${name}.csr`], cwd);
  mkdirSync(join(cwd, `${name}-ca-db`), { recursive: true });
  writeFileSync(join(cwd, `${name}-ca-db`, 'index.txt'), '');
  writeFileSync(join(cwd, `${name}-ca-db`, 'serial'), '1000\n');
  writeFileSync(
    join(cwd, `${name}-ca.cnf`),
    [
      '[ ca ]',
      'default_ca = test_ca',
      '[ test_ca ]',
      `database = ${join(cwd, `${name}-ca-db`, 'index.txt')}`,
      `new_certs_dir = ${join(cwd, `${name}-ca-db`)}`,
      `serial = ${join(cwd, `${name}-ca-db`, 'serial')}`,
      'default_md = sha256',
      'policy = any',
      '[ any ]',
      'commonName = supplied',
      '[ server ]',
      'subjectAltName = IP:127.0.0.1,DNS:localhost',
      'extendedKeyUsage = serverAuth,clientAuth',
      '',
    ].join('\n'),
  );
  openssl(['ca', '-batch', '-config', `${name}-ca.cnf`, '-cert', `${ca}.crt`, '-keyfile', `${ca}.key`, '-in', `${name}.csr`, '-out', `${name}.crt`, '-startdate', '20200101000000Z', '-enddate', '20200102000000Z', '-extensions', 'server', '-notext'], cwd);
}

/** Generates a CA, a server and a client certificate, and an unrelated CA with its own client certificate. */
export function makeTlsCertificates(): TlsCertificates {
  const dir = makeTempDir('redis-tls-certs');
  newCa(dir, 'ca', 'nestjs-redis-kit test CA');
  newCa(dir, 'other-ca', 'some other CA');
  newLeaf(dir, 'server', 'ca', 'localhost', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n');
  newLeaf(dir, 'client', 'ca', 'app', 'extendedKeyUsage=clientAuth\n');
  newLeaf(dir, 'stranger', 'other-ca', 'stranger', 'extendedKeyUsage=clientAuth\n');
  newExpiredLeaf(dir, 'expired', 'ca');
  const file = (name: string) => join(dir, name);
  const certs: TlsCertificates = {
    dir,
    caFile: file('ca.crt'),
    serverCertFile: file('server.crt'),
    serverKeyFile: file('server.key'),
    clientCertFile: file('client.crt'),
    clientKeyFile: file('client.key'),
    otherCaFile: file('other-ca.crt'),
    strangerCertFile: file('stranger.crt'),
    strangerKeyFile: file('stranger.key'),
    expiredServerCertFile: file('expired.crt'),
    expiredServerKeyFile: file('expired.key'),
    clientTls: (overrides = {}) => ({
      ca: readFileSync(certs.caFile),
      cert: readFileSync(certs.clientCertFile),
      key: readFileSync(certs.clientKeyFile),
      ...overrides,
    }),
  };
  return certs;
}

export interface TlsRedisProcess {
  readonly host: '127.0.0.1';
  /** The TLS port; there is no plain-text port (`--port 0`). */
  readonly tlsPort: number;
  readonly dir: string;
  readonly password: string | undefined;
  readonly running: boolean;
  /** One command over TLS on a short-lived connection (CA + client certificate), for assertions. */
  command(...args: (string | number)[]): Promise<unknown>;
  stop(): Promise<void>;
  /** Kills the process and removes its temp dir. */
  destroy(): Promise<void>;
  logTail(lines?: number): string;
}

export interface StartTlsRedisOptions {
  certs: TlsCertificates;
  /** Log in as this ACL user (with `password`) for readiness and `command()`. */
  username?: string;
  /** `tls-auth-clients`: demand a client certificate signed by the CA. Default false. */
  requireClientCert?: boolean;
  password?: string;
  /** Start `redis-sentinel <conf>` with these lines instead of a data node. */
  sentinelConfig?: (port: number, dir: string) => string[];
  /** Appended last (data nodes only). */
  extraArgs?: string[];
  /** Serve this certificate instead of the good server certificate (e.g. the expired one). */
  serverCert?: { certFile: string; keyFile: string };
}

/** One TLS command on a throwaway client (`redisCommand` with TLS options; SNI `localhost` unless given). */
export function tlsCommand(port: number, tls: ConnectionOptions, args: readonly (string | number)[], options: { username?: string; password?: string; timeoutMs?: number } = {}): Promise<unknown> {
  return redisCommand({ host: LOOPBACK, port, username: options.username, password: options.password, tls: { servername: 'localhost', ...tls } }, args, options.timeoutMs);
}

function tlsServerArgs(certs: TlsCertificates, requireClientCert: boolean, serverCert?: { certFile: string; keyFile: string }): string[] {
  return [
    '--tls-cert-file', serverCert?.certFile ?? certs.serverCertFile,
    '--tls-key-file', serverCert?.keyFile ?? certs.serverKeyFile,
    '--tls-ca-cert-file', certs.caFile,
    '--tls-auth-clients', requireClientCert ? 'yes' : 'no',
  ];
}

/** Starts a TLS-only redis-server (or redis-sentinel) on loopback; resolves once it answers PING over TLS. */
export async function startTlsRedis(options: StartTlsRedisOptions): Promise<TlsRedisProcess> {
  const launcher = ensureRedisBinaries();
  const dir = makeTempDir(options.sentinelConfig ? 'redis-tls-sentinel' : 'redis-tls-server');
  const tlsPort = await freePort();
  let binary = 'redis-server';
  let args: string[];
  if (options.sentinelConfig) {
    const conf = join(dir, 'sentinel.conf');
    writeFileSync(
      conf,
      [
        'port 0',
        `tls-port ${tlsPort}`,
        `bind ${LOOPBACK}`,
        `dir ${dir}`,
        `logfile ${join(dir, LOG_FILE)}`,
        'daemonize no',
        `tls-cert-file ${options.certs.serverCertFile}`,
        `tls-key-file ${options.certs.serverKeyFile}`,
        `tls-ca-cert-file ${options.certs.caFile}`,
        `tls-auth-clients ${options.requireClientCert ? 'yes' : 'no'}`,
        // The sentinel talks TLS to the data nodes it monitors.
        'tls-replication yes',
        ...options.sentinelConfig(tlsPort, dir),
        '',
      ].join('\n'),
    );
    binary = launcher.binary;
    args = [conf, ...launcher.modeArgs];
  } else {
    args = [
      '--port', '0',
      '--tls-port', String(tlsPort),
      '--bind', LOOPBACK,
      '--dir', dir,
      '--logfile', join(dir, LOG_FILE),
      '--daemonize', 'no',
      '--save', '',
      '--appendonly', 'no',
      ...tlsServerArgs(options.certs, options.requireClientCert ?? false, options.serverCert),
      ...(options.password !== undefined ? ['--requirepass', options.password, '--masterauth', options.password] : []),
      ...(options.extraArgs ?? []),
    ];
  }
  const output = openSync(join(dir, 'stdio.log'), 'a');
  let child: ChildProcess | undefined;
  try {
    child = spawn(binary, args, { cwd: dir, stdio: ['ignore', output, output] });
  } finally {
    closeSync(output);
  }
  trackProcess(child);
  let exited = false;
  const exit = new Promise<void>((resolve) => {
    child.once('exit', () => {
      exited = true;
      resolve();
    });
    child.once('error', () => {
      exited = true;
      resolve();
    });
  });
  const tail = (lines = 30) => {
    const log = join(dir, LOG_FILE);
    const stdio = join(dir, 'stdio.log');
    return [log, stdio]
      .filter((f) => existsSync(f))
      .map((f) => readFileSync(f, 'utf8').trimEnd().split('\n').slice(-lines).join('\n'))
      .join('\n');
  };
  // A server started with a deliberately bad certificate is still probed: readiness is not the test.
  const tls = options.certs.clientTls(options.serverCert ? { rejectUnauthorized: false } : {});
  const ask = (args: readonly (string | number)[], timeoutMs?: number) => tlsCommand(tlsPort, tls, args, { username: options.username, password: options.password, timeoutMs });
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (exited) throw new Error(`${binary} (TLS port ${tlsPort}) exited before answering PING\n${tail()}`);
    try {
      if ((await ask(['PING'], 1_000)) === 'PONG') break;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${binary} (TLS port ${tlsPort}) did not answer PING over TLS within 15 s\n${tail()}`);
    }
    await sleep(50);
  }
  const stop = async () => {
    if (exited) return;
    child.kill('SIGKILL');
    await exit;
  };
  return {
    host: LOOPBACK,
    tlsPort,
    dir,
    password: options.password,
    get running() {
      return !exited;
    },
    command: (...args) => ask(args),
    stop,
    destroy: async () => {
      await stop();
      removeTrackedDir(dir);
    },
    logTail: tail,
  };
}

export interface TlsSentinelHandle {
  readonly name: string;
  readonly master: TlsRedisProcess;
  readonly sentinel: TlsRedisProcess;
  stop(): Promise<void>;
}

/**
 * One TLS-only master and one TLS-only sentinel (quorum 1) monitoring it over TLS (`tls-replication
 * yes`): enough to prove discovery and the master connection both run over TLS.
 */
export async function startTlsSentinel(
  certs: TlsCertificates,
  options: {
    name?: string;
    password?: string;
    sentinelPassword?: string;
    /** An ACL user on the sentinel (`user <name> on ><password> <rule>` in sentinel.conf), next to the default user (admin, `sentinelPassword`). */
    sentinelUser?: { name: string; password: string; rule: string };
  } = {},
): Promise<TlsSentinelHandle> {
  const name = options.name ?? 'tlsmaster';
  const master = await startTlsRedis({ certs, password: options.password, extraArgs: ['--tls-replication', 'yes'] });
  try {
    const sentinel = await startTlsRedis({
      certs,
      password: options.sentinelPassword,
      sentinelConfig: () => [
        'sentinel resolve-hostnames no',
        `sentinel monitor ${name} ${LOOPBACK} ${master.tlsPort} 1`,
        ...(options.password !== undefined ? [`sentinel auth-pass ${name} ${options.password}`] : []),
        ...(options.sentinelPassword !== undefined ? [`requirepass ${options.sentinelPassword}`] : []),
        ...(options.sentinelUser ? [`user ${options.sentinelUser.name} on >${options.sentinelUser.password} ${options.sentinelUser.rule}`] : []),
        `sentinel down-after-milliseconds ${name} 1000`,
      ],
    });
    return {
      name,
      master,
      sentinel,
      stop: async () => {
        await sentinel.destroy();
        await master.destroy();
      },
    };
  } catch (error) {
    await master.destroy();
    throw error;
  }
}

export interface TlsClusterHandle {
  /** The masters, TLS-only; `tlsPort` of each is a seed node address. */
  readonly nodes: TlsRedisProcess[];
  stop(): Promise<void>;
}

/**
 * Three TLS-only masters with `tls-cluster yes` (the cluster bus runs over TLS too) and
 * `tls-replication yes`, joined with `redis-cli --tls --cluster create`. No replicas: enough to prove
 * slot discovery and every slot served over TLS.
 */
export async function startTlsCluster(certs: TlsCertificates): Promise<TlsClusterHandle> {
  const nodes: TlsRedisProcess[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      const busPort = await freePort();
      nodes.push(
        await startTlsRedis({
          certs,
          extraArgs: [
            '--cluster-enabled', 'yes',
            '--cluster-config-file', 'nodes.conf',
            '--cluster-node-timeout', '1000',
            '--cluster-port', String(busPort),
            '--tls-cluster', 'yes',
            '--tls-replication', 'yes',
          ],
        }),
      );
    }
    const create = spawnSync(
      'redis-cli',
      ['--tls', '--cacert', certs.caFile, '--cert', certs.clientCertFile, '--key', certs.clientKeyFile, '--sni', 'localhost', '--cluster', 'create', ...nodes.map((n) => `${LOOPBACK}:${n.tlsPort}`), '--cluster-yes'],
      { encoding: 'utf8', timeout: 30_000 },
    );
    if (create.status !== 0) throw new Error(`redis-cli --cluster create over TLS failed (exit ${create.status}): ${create.stdout}\n${create.stderr}`);
    const deadline = Date.now() + 20_000;
    for (;;) {
      const states = await Promise.all(nodes.map((n) => n.command('CLUSTER', 'INFO').then((info) => /cluster_state:ok/.test(String(info)), () => false)));
      if (states.every(Boolean)) break;
      if (Date.now() > deadline) throw new Error('TLS cluster did not reach cluster_state:ok within 20 s');
      await sleep(100);
    }
    return {
      nodes,
      stop: async () => {
        for (const node of nodes) await node.destroy();
      },
    };
  } catch (error) {
    for (const node of nodes) await node.destroy();
    throw error;
  }
}
