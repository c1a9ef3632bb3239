import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { compileFixture, REPO_ROOT, startCluster, startRedis, type RedisClusterHandle, type RedisProcess } from '@nestjs-redis-kit/test-support';

const root = REPO_ROOT;
let entry = '';

function build(): void {
  entry = compileFixture(new URL('./fixtures/stampede-worker.ts', import.meta.url), 'cache-worker');
}

interface WorkerResult {
  loads: number;
  values: unknown[];
  count: number;
}

/** Starts `n` instances, releases them at once, and collects what each saw. */
async function stampede(n: number, redis: object, key: string): Promise<WorkerResult[]> {
  const children: ChildProcess[] = [];
  const outputs: string[] = [];
  try {
    const ready = Array.from({ length: n }, (_, i) => {
      const child = spawn(process.execPath, [entry], {
        cwd: root,
        env: { ...process.env, CACHE_WORKER_CONFIG: JSON.stringify({ redis, key, calls: 1_000, loaderMs: 200 }) },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      children.push(child);
      outputs[i] = '';
      child.stderr!.on('data', (d: Buffer) => (outputs[i] += d.toString()));
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`worker ${i} not ready: ${outputs[i]}`)), 20_000);
        child.stdout!.on('data', (d: Buffer) => {
          outputs[i] += d.toString();
          if (/READY \d+/.test(outputs[i]!)) {
            clearTimeout(timer);
            resolve();
          }
        });
        child.once('exit', () => reject(new Error(`worker ${i} exited early: ${outputs[i]}`)));
      });
    });
    await Promise.all(ready);
    const done = children.map(
      (child, i) =>
        new Promise<WorkerResult>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`worker ${i} gave no result: ${outputs[i]}`)), 30_000);
          child.once('exit', () => {
            clearTimeout(timer);
            const m = /RESULT (.*)\n/.exec(outputs[i]!);
            if (m) resolve(JSON.parse(m[1]!) as WorkerResult);
            else reject(new Error(`worker ${i} gave no result: ${outputs[i]}`));
          });
        }),
    );
    for (const child of children) child.stdin!.write('go\n');
    return await Promise.all(done);
  } finally {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  }
}

describe('fleet-wide stampede protection (1,000 concurrent getOrSet per process on one cold key)', () => {
  let server: RedisProcess;
  let cluster: RedisClusterHandle;

  beforeAll(async () => {
    build();
    server = await startRedis();
    cluster = await startCluster({ masters: 3, replicasPerMaster: 0 });
  }, 120_000);
  afterAll(async () => {
    await server?.stop();
    await cluster?.stop();
  });

  for (const n of [1, 4]) {
    it(`${n} process(es) on standalone Redis: the loader runs exactly once and everyone gets its value`, async () => {
      const results = await stampede(n, { url: server.url, keyPrefix: `sp${n}:` }, 'cold');
      expect(results.reduce((sum, r) => sum + r.loads, 0)).toBe(1);
      expect(results.every((r) => r.count === 1_000)).toBe(true);
      const values = new Set(results.flatMap((r) => r.values));
      expect(values.size).toBe(1);
      expect(typeof [...values][0]).toBe('number');
    });
  }

  it('4 processes on Redis Cluster: the loader runs exactly once', async () => {
    const results = await stampede(4, { cluster: { nodes: cluster.seeds }, keyPrefix: 'spc:' }, 'cold');
    expect(results.reduce((sum, r) => sum + r.loads, 0)).toBe(1);
    expect(new Set(results.flatMap((r) => r.values)).size).toBe(1);
  });
});
