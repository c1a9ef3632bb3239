import { spawn } from 'node:child_process';

import { freePortPair } from './free-port.js';
import {
  LOOPBACK,
  parseInfo,
  redisCommand,
  RedisStartError,
  startRedis,
  type RedisEndpoint,
  type RedisProcess,
} from './redis-server.harness.js';
import { waitUntil } from './wait-until.js';

export const CLUSTER_SLOTS = 16_384;

export interface StartClusterOptions {
  /** At least 3 (redis-cli refuses fewer); default 3. */
  masters?: number;
  /** 0 or 1; default 1 (needed for failover tests). */
  replicasPerMaster?: number;
  /** How fast nodes flag each other as failed; default 1000. */
  nodeTimeoutMs?: number;
}

export interface RedisClusterHandle {
  /** Every node ever started for this cluster, in creation order (roles change on failover). */
  readonly nodes: RedisProcess[];
  /** Seed addresses for an ioredis `Cluster` client. */
  readonly seeds: RedisEndpoint[];
  /** Current masters that serve slots, as seen by a live node, ordered by their first slot. */
  masters(): Promise<RedisProcess[]>;
  /** The live replica currently attached to `master`, if any. */
  replicaOf(master: RedisProcess): Promise<RedisProcess | undefined>;
  /** cluster_state:ok on every running node, all slots served by reachable masters, all views agree. */
  waitUntilHealthy(timeoutMs?: number): Promise<void>;
  /** Resolves with the node that took over `deadMaster`'s slots once the cluster is healthy again. */
  waitForPromotion(deadMaster: RedisProcess, timeoutMs?: number): Promise<RedisProcess>;
  /** The current CLUSTER NODES view of one live node, parsed. */
  view(): Promise<ClusterNodeEntry[]>;
  /** Kills every node and removes their temp dirs. */
  stop(): Promise<void>;
}

export interface ClusterNodeEntry {
  readonly id: string;
  readonly port: number;
  readonly flags: readonly string[];
  /** Set for replicas. */
  readonly masterId: string | undefined;
  readonly linkState: string;
  /** Inclusive ranges; importing/migrating markers are left out. */
  readonly slots: readonly (readonly [number, number])[];
}

export function parseClusterNodes(text: string): ClusterNodeEntry[] {
  const entries: ClusterNodeEntry[] = [];
  for (const line of text.split('\n')) {
    const fields = line.trim().split(' ');
    if (fields.length < 8) continue;
    const [id, address, flags, master, , , , linkState, ...slotFields] = fields as [string, string, string, string, string, string, string, string, ...string[]];
    // `ip:port@busport[,hostname]`
    const port = Number(address.split('@')[0]?.split(':').pop());
    const slots: [number, number][] = [];
    for (const slot of slotFields) {
      if (slot.startsWith('[')) continue;
      const [from, to] = slot.split('-');
      slots.push([Number(from), Number(to ?? from)]);
    }
    entries.push({ id, port, flags: flags.split(','), masterId: master === '-' ? undefined : master, linkState, slots });
  }
  return entries;
}

function slotCount(entry: ClusterNodeEntry): number {
  return entry.slots.reduce((sum, [from, to]) => sum + (to - from + 1), 0);
}

function isFailed(entry: ClusterNodeEntry): boolean {
  return entry.flags.includes('fail') || entry.flags.includes('fail?') || entry.flags.includes('noaddr');
}

function slotSignature(view: readonly ClusterNodeEntry[]): string {
  return view
    .filter((e) => e.slots.length > 0)
    .map((e) => `${e.id}=${e.slots.map(([a, b]) => `${a}-${b}`).join(',')}`)
    .sort()
    .join(' ');
}

function runTool(binary: string, args: readonly string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, [...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(output);
      else reject(new Error(`${binary} ${args.join(' ')} failed (${signal ?? `exit ${code}`}):\n${output}`));
    });
  });
}

async function startClusterNode(nodeTimeoutMs: number): Promise<RedisProcess> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePortPair();
    try {
      return await startRedis({ cluster: true, port, clusterNodeTimeoutMs: nodeTimeoutMs });
    } catch (error) {
      // Either port of the pair can be taken by someone else before redis binds it; pick another pair.
      if (!(error instanceof RedisStartError && error.addressInUse && attempt < 3)) throw error;
    }
  }
}

class ClusterHandle implements RedisClusterHandle {
  readonly seeds: RedisEndpoint[];
  /** Last known slot ranges per node id, kept after a node dies so its former slots can be found. */
  private readonly knownSlots = new Map<string, readonly (readonly [number, number])[]>();

  constructor(readonly nodes: RedisProcess[]) {
    this.seeds = nodes.map((n) => ({ host: n.host, port: n.port }));
  }

  private live(): RedisProcess[] {
    return this.nodes.filter((n) => n.running && !n.paused);
  }

  private byPort(port: number): RedisProcess | undefined {
    return this.nodes.find((n) => n.port === port);
  }

  private async viewOf(node: RedisProcess): Promise<ClusterNodeEntry[]> {
    return parseClusterNodes(String(await redisCommand(node, ['CLUSTER', 'NODES'], 1_000)));
  }

  async view(): Promise<ClusterNodeEntry[]> {
    const errors: string[] = [];
    for (const node of this.live()) {
      try {
        return await this.viewOf(node);
      } catch (error) {
        errors.push(error instanceof Error ? error.message : String(error));
      }
    }
    throw new Error(`no live cluster node answered CLUSTER NODES${errors.length ? `: ${errors.join('; ')}` : ''}`);
  }

  private remember(view: readonly ClusterNodeEntry[]): void {
    for (const entry of view) if (entry.slots.length > 0) this.knownSlots.set(entry.id, entry.slots);
  }

  async masters(): Promise<RedisProcess[]> {
    const view = await this.view();
    this.remember(view);
    return view
      .filter((e) => e.flags.includes('master') && !isFailed(e) && e.slots.length > 0)
      .sort((a, b) => (a.slots[0]?.[0] ?? 0) - (b.slots[0]?.[0] ?? 0))
      .map((e) => this.byPort(e.port))
      .filter((n): n is RedisProcess => n !== undefined);
  }

  async replicaOf(master: RedisProcess): Promise<RedisProcess | undefined> {
    const view = await this.view();
    const masterEntry = view.find((e) => e.port === master.port);
    if (masterEntry === undefined) return undefined;
    const replica = view.find((e) => e.masterId === masterEntry.id && !isFailed(e) && this.byPort(e.port)?.running === true);
    return replica === undefined ? undefined : this.byPort(replica.port);
  }

  /** Throws with the reason when the cluster is not healthy; returns the agreed view when it is. */
  private async checkHealthy(): Promise<ClusterNodeEntry[]> {
    const live = this.live();
    if (live.length === 0) throw new Error('no cluster node is running');
    const livePorts = new Set(live.map((n) => n.port));
    const views = await Promise.all(
      live.map(async (node) => {
        const info = parseInfo(await redisCommand(node, ['CLUSTER', 'INFO'], 1_000));
        if (info.get('cluster_state') !== 'ok') throw new Error(`node ${node.port}: cluster_state=${info.get('cluster_state')}`);
        const view = await this.viewOf(node);
        let served = 0;
        for (const entry of view) {
          if (entry.slots.length === 0) continue;
          if (!entry.flags.includes('master') || isFailed(entry) || !livePorts.has(entry.port)) {
            throw new Error(`node ${node.port} sees slots on unreachable node ${entry.port} (${entry.flags.join(',')})`);
          }
          served += slotCount(entry);
        }
        if (served !== CLUSTER_SLOTS) throw new Error(`node ${node.port} sees ${served}/${CLUSTER_SLOTS} slots served`);
        return { port: node.port, view };
      }),
    );
    const first = views[0]!;
    const signature = slotSignature(first.view);
    for (const other of views.slice(1)) {
      if (slotSignature(other.view) !== signature) {
        throw new Error(`nodes ${first.port} and ${other.port} disagree about slot owners`);
      }
    }
    this.remember(first.view);
    return first.view;
  }

  async waitUntilHealthy(timeoutMs = 15_000): Promise<void> {
    await waitUntil(() => this.checkHealthy(), { timeoutMs, intervalMs: 100, what: 'the cluster to be healthy' });
  }

  /** Startup readiness: healthy, every node known to every node, every replica attached and synced. */
  async waitUntilReady(expectedMasters: number, expectedReplicas: number, timeoutMs: number): Promise<void> {
    await waitUntil(
      async () => {
        const view = await this.checkHealthy();
        const masters = view.filter((e) => e.slots.length > 0);
        const replicas = view.filter((e) => e.masterId !== undefined && !isFailed(e));
        if (masters.length !== expectedMasters || replicas.length !== expectedReplicas) {
          throw new Error(`${masters.length} masters / ${replicas.length} replicas, want ${expectedMasters} / ${expectedReplicas}`);
        }
        await Promise.all(
          this.nodes.map(async (node) => {
            const info = parseInfo(await redisCommand(node, ['CLUSTER', 'INFO'], 1_000));
            if (info.get('cluster_known_nodes') !== String(this.nodes.length)) {
              throw new Error(`node ${node.port} knows ${info.get('cluster_known_nodes')}/${this.nodes.length} nodes`);
            }
          }),
        );
        await Promise.all(
          replicas.map(async (entry) => {
            const node = this.byPort(entry.port);
            if (node === undefined) throw new Error(`unknown node on port ${entry.port}`);
            const repl = parseInfo(await redisCommand(node, ['INFO', 'replication'], 1_000));
            if (repl.get('master_link_status') !== 'up' || repl.get('master_sync_in_progress') !== '0') {
              throw new Error(`replica ${entry.port} not synced (master_link_status=${repl.get('master_link_status')})`);
            }
          }),
        );
        return true;
      },
      { timeoutMs, intervalMs: 100, what: `the cluster (${expectedMasters} masters, ${expectedReplicas} replicas) to be ready` },
    );
  }

  async waitForPromotion(deadMaster: RedisProcess, timeoutMs = 20_000): Promise<RedisProcess> {
    // Its id and slots come from views taken while it was alive; a dead node cannot be asked.
    const view = await this.view();
    const deadEntry = view.find((e) => e.port === deadMaster.port);
    if (deadEntry === undefined) throw new Error(`port ${deadMaster.port} is not a node of this cluster`);
    const formerSlots = deadEntry.slots.length > 0 ? deadEntry.slots : this.knownSlots.get(deadEntry.id);
    const probeSlot = formerSlots?.[0]?.[0];
    if (probeSlot === undefined) throw new Error(`node ${deadMaster.port} never served slots, so nothing can be promoted`);
    return waitUntil(
      async () => {
        const healthy = await this.checkHealthy();
        const owner = healthy.find((e) => e.slots.some(([from, to]) => probeSlot >= from && probeSlot <= to));
        if (owner === undefined || owner.id === deadEntry.id) {
          throw new Error(`slot ${probeSlot} is still owned by ${deadMaster.port}`);
        }
        const node = this.byPort(owner.port);
        if (node === undefined) throw new Error(`slot ${probeSlot} moved to unknown port ${owner.port}`);
        return node;
      },
      { timeoutMs, intervalMs: 100, what: `a replica to take over the slots of master ${deadMaster.port}` },
    );
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.destroy()));
  }
}

/**
 * Starts `masters × (1 + replicasPerMaster)` cluster nodes on loopback, joins them with
 * `redis-cli --cluster create`, and resolves only when every node agrees on the slot map and every
 * replica is synced, so tests never race the cluster's own convergence.
 */
export async function startCluster(opts: StartClusterOptions = {}): Promise<RedisClusterHandle> {
  const masters = opts.masters ?? 3;
  const replicasPerMaster = opts.replicasPerMaster ?? 1;
  const nodeTimeoutMs = opts.nodeTimeoutMs ?? 1_000;
  if (masters < 3) throw new Error('startCluster: redis-cli needs at least 3 masters');
  if (replicasPerMaster !== 0 && replicasPerMaster !== 1) throw new Error('startCluster: replicasPerMaster must be 0 or 1');

  const total = masters * (1 + replicasPerMaster);
  // Parallel starts are safe: freePortPair never hands the same port or bus port out twice.
  const settled = await Promise.allSettled(Array.from({ length: total }, () => startClusterNode(nodeTimeoutMs)));
  const nodes = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const handle = new ClusterHandle(nodes);
  try {
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
    await runTool(
      'redis-cli',
      [
        '--cluster', 'create',
        ...nodes.map((n) => `${LOOPBACK}:${n.port}`),
        '--cluster-replicas', String(replicasPerMaster),
        '--cluster-yes',
      ],
      30_000,
    );
    await handle.waitUntilReady(masters, masters * replicasPerMaster, 20_000);
    return handle;
  } catch (error) {
    await handle.stop();
    throw error;
  }
}
