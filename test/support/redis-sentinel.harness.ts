import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { freePort } from './free-port.js';
import { ensureRedisBinaries } from './redis-install.js';
import {
  createRedisProcess,
  LOG_FILE,
  LOOPBACK,
  makeTempDir,
  redisCommand,
  RedisStartError,
  startRedis,
  waitForReplicaSync,
  type RedisEndpoint,
  type RedisProcess,
} from './redis-server.harness.js';
import { removeTrackedDir } from './process-registry.js';
import { waitUntil } from './wait-until.js';

export interface StartSentinelGroupOptions {
  /** Default 'mymaster'. */
  masterName?: string;
  /** How long a silent master takes to be declared down; default 1000. */
  downAfterMs?: number;
  /** Default 3000. */
  failoverTimeoutMs?: number;
}

export interface SentinelGroupHandle {
  readonly name: string;
  /** The master at start; after a failover it is the old master (sentinels turn it into a replica on restart). */
  readonly master: RedisProcess;
  /** The replica at start; the only candidate, so it becomes the master on failover. */
  readonly replica: RedisProcess;
  readonly sentinels: RedisProcess[];
  readonly sentinelAddresses: RedisEndpoint[];
  /** SENTINEL get-master-addr-by-name via the first live sentinel that answers. */
  currentMaster(): Promise<RedisEndpoint>;
  /** The data node the sentinels currently call master. */
  currentMasterProcess(): Promise<RedisProcess>;
  /** Resolves with the new master once every live sentinel reports a master other than `fromPort` and it answers ROLE as master. */
  waitForFailover(fromPort: number, timeoutMs?: number): Promise<RedisEndpoint>;
  /** Kills sentinels first (so they do not react), then the data nodes; removes all temp dirs. */
  stop(): Promise<void>;
}

const SENTINEL_COUNT = 3;
const QUORUM = 2;

/** Flat `[k1, v1, k2, v2]` replies (RESP2 maps) to a Map. */
function pairs(reply: unknown): Map<string, string> {
  const map = new Map<string, string>();
  if (!Array.isArray(reply)) return map;
  for (let i = 0; i + 1 < reply.length; i += 2) map.set(String(reply[i]), String(reply[i + 1]));
  return map;
}

async function startSentinel(name: string, master: RedisProcess, downAfterMs: number, failoverTimeoutMs: number): Promise<RedisProcess> {
  const launcher = ensureRedisBinaries();
  const dir = makeTempDir('redis-sentinel');
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const confPath = join(dir, 'sentinel.conf');
    // Sentinel rewrites this file with what it learns (replicas, peers, new master), which is what
    // lets a restarted sentinel rejoin the group; so it lives in the sentinel's own writable dir.
    writeFileSync(
      confPath,
      [
        `port ${port}`,
        `bind ${LOOPBACK}`,
        `dir ${dir}`,
        `logfile ${join(dir, LOG_FILE)}`,
        'daemonize no',
        'sentinel resolve-hostnames no',
        `sentinel monitor ${name} ${LOOPBACK} ${master.port} ${QUORUM}`,
        `sentinel down-after-milliseconds ${name} ${downAfterMs}`,
        `sentinel failover-timeout ${name} ${failoverTimeoutMs}`,
        `sentinel parallel-syncs ${name} 1`,
        '',
      ].join('\n'),
    );
    const sentinel = createRedisProcess({ binary: launcher.binary, args: [confPath, ...launcher.modeArgs], port, dir });
    try {
      await sentinel.start();
      return sentinel;
    } catch (error) {
      if (!(error instanceof RedisStartError && error.addressInUse && attempt < 3)) {
        removeTrackedDir(dir);
        throw error;
      }
    }
  }
}

class SentinelGroup implements SentinelGroupHandle {
  readonly sentinelAddresses: RedisEndpoint[];

  constructor(
    readonly name: string,
    readonly master: RedisProcess,
    readonly replica: RedisProcess,
    readonly sentinels: RedisProcess[],
  ) {
    this.sentinelAddresses = sentinels.map((s) => ({ host: s.host, port: s.port }));
  }

  private liveSentinels(): RedisProcess[] {
    return this.sentinels.filter((s) => s.running && !s.paused);
  }

  private async masterAddrFrom(sentinel: RedisProcess): Promise<RedisEndpoint> {
    const reply = await redisCommand(sentinel, ['SENTINEL', 'get-master-addr-by-name', this.name], 1_000);
    if (!Array.isArray(reply) || reply.length < 2) throw new Error(`sentinel ${sentinel.port} does not know master ${this.name}`);
    return { host: String(reply[0]), port: Number(reply[1]) };
  }

  async currentMaster(): Promise<RedisEndpoint> {
    const errors: string[] = [];
    for (const sentinel of this.liveSentinels()) {
      try {
        return await this.masterAddrFrom(sentinel);
      } catch (error) {
        errors.push(error instanceof Error ? error.message : String(error));
      }
    }
    throw new Error(`no live sentinel answered get-master-addr-by-name${errors.length ? `: ${errors.join('; ')}` : ''}`);
  }

  async currentMasterProcess(): Promise<RedisProcess> {
    const { port } = await this.currentMaster();
    const node = [this.master, this.replica].find((n) => n.port === port);
    if (node === undefined) throw new Error(`sentinels report master on port ${port}, which is not part of this group`);
    return node;
  }

  async waitForFailover(fromPort: number, timeoutMs = 30_000): Promise<RedisEndpoint> {
    return waitUntil(
      async () => {
        const live = this.liveSentinels();
        if (live.length === 0) throw new Error('no sentinel is running');
        const answers = await Promise.all(live.map((s) => this.masterAddrFrom(s)));
        const ports = new Set(answers.map((a) => a.port));
        const [address] = answers;
        if (ports.size !== 1 || address === undefined) throw new Error(`sentinels disagree: ports ${[...ports].join(', ')}`);
        if (address.port === fromPort) throw new Error(`sentinels still report ${fromPort}`);
        const role = await redisCommand(address, ['ROLE'], 1_000);
        if (!Array.isArray(role) || role[0] !== 'master') throw new Error(`${address.port} answers ROLE ${JSON.stringify(role)}`);
        return address;
      },
      { timeoutMs, intervalMs: 100, what: `sentinels to fail over master ${this.name} away from port ${fromPort}` },
    );
  }

  /** Every sentinel knows the master, the replica and both other sentinels, and agrees a failover is possible. */
  async waitUntilReady(timeoutMs: number): Promise<void> {
    await waitUntil(
      async () => {
        await Promise.all(
          this.sentinels.map(async (sentinel) => {
            const state = pairs(await redisCommand(sentinel, ['SENTINEL', 'MASTER', this.name], 1_000));
            if (state.get('flags') !== 'master') throw new Error(`sentinel ${sentinel.port} sees master flags ${state.get('flags')}`);
            if (state.get('num-other-sentinels') !== String(SENTINEL_COUNT - 1)) {
              throw new Error(`sentinel ${sentinel.port} knows ${state.get('num-other-sentinels')} other sentinels`);
            }
            const replicas = await redisCommand(sentinel, ['SENTINEL', 'REPLICAS', this.name], 1_000);
            const known = (Array.isArray(replicas) ? replicas : []).map(pairs);
            const ours = known.find((r) => r.get('port') === String(this.replica.port));
            if (ours === undefined || ours.get('flags') !== 'slave' || ours.get('master-link-status') !== 'ok') {
              throw new Error(`sentinel ${sentinel.port} does not see replica ${this.replica.port} healthy (${ours?.get('flags') ?? 'unknown'})`);
            }
            const peers = await redisCommand(sentinel, ['SENTINEL', 'SENTINELS', this.name], 1_000);
            if (!Array.isArray(peers) || peers.length !== SENTINEL_COUNT - 1) {
              throw new Error(`sentinel ${sentinel.port} lists ${Array.isArray(peers) ? peers.length : '?'} peer sentinels`);
            }
            await redisCommand(sentinel, ['SENTINEL', 'CKQUORUM', this.name], 1_000);
          }),
        );
        return true;
      },
      { timeoutMs, intervalMs: 100, what: `sentinel group ${this.name} to discover its replica and peers` },
    );
  }

  async stop(): Promise<void> {
    await Promise.all(this.sentinels.map((s) => s.destroy()));
    await Promise.all([this.master.destroy(), this.replica.destroy()]);
  }
}

/**
 * One master, one synced replica and three sentinels (quorum 2) on loopback. Resolves only when every
 * sentinel has discovered the replica and its two peers, so a failover can happen as soon as a test
 * kills the master.
 */
export async function startSentinelGroup(opts: StartSentinelGroupOptions = {}): Promise<SentinelGroupHandle> {
  const name = opts.masterName ?? 'mymaster';
  const downAfterMs = opts.downAfterMs ?? 1_000;
  const failoverTimeoutMs = opts.failoverTimeoutMs ?? 3_000;
  const started: RedisProcess[] = [];
  try {
    const master = await startRedis();
    started.push(master);
    const replica = await startRedis({ replicaOf: { host: master.host, port: master.port } });
    started.push(replica);
    const sentinelStarts = await Promise.allSettled(
      Array.from({ length: SENTINEL_COUNT }, () => startSentinel(name, master, downAfterMs, failoverTimeoutMs)),
    );
    for (const s of sentinelStarts) if (s.status === 'fulfilled') started.push(s.value);
    const failed = sentinelStarts.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
    await waitForReplicaSync(replica);
    const group = new SentinelGroup(name, master, replica, started.slice(2));
    await group.waitUntilReady(20_000);
    return group;
  } catch (error) {
    await Promise.all(started.map((p) => p.destroy()));
    throw error;
  }
}
