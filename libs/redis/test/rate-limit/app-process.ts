import { spawn, type ChildProcess } from 'node:child_process';
import { compileFixture, REPO_ROOT } from '@nestjs-redis-kit/test-support';
import type { RedisModuleOptions } from '../../src/redis.options.js';

const root = REPO_ROOT;
let entry = '';

/** Compiles the fixture app (and the library sources it imports), so each instance runs as its own `node` process. */
export function buildAppOnce(): void {
  entry = compileFixture(new URL('./fixtures/limited-app.ts', import.meta.url), 'rate-limit-app');
}

export interface AppProcess {
  port: number;
  stop(): Promise<void>;
}

export function startAppProcess(config: { redis: RedisModuleOptions; limit: number }): Promise<AppProcess> {
  const child: ChildProcess = spawn(process.execPath, [entry], {
    cwd: root,
    env: { ...process.env, RL_APP_CONFIG: JSON.stringify(config) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`app process not ready within 60 s: ${output}`)), 60_000);
    const fail = (error: Error) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(error);
    };
    child.stderr!.on('data', (d: Buffer) => {
      output += d.toString();
      // Mode switches of the app's connection (the fixture prints them): shown with the test's output.
      for (const line of d.toString().split('\n')) if (line.startsWith('MODE ')) process.stderr.write(`app ${child.pid}: ${line}\n`);
    });
    child.stdout!.on('data', (d: Buffer) => {
      output += d.toString();
      const m = /READY (\d+)/.exec(output);
      if (!m) return;
      clearTimeout(timer);
      resolve({
        port: Number(m[1]),
        stop: () =>
          new Promise<void>((done) => {
            if (child.exitCode !== null || child.signalCode !== null) return done();
            const kill = setTimeout(() => child.kill('SIGKILL'), 5_000);
            child.once('exit', () => {
              clearTimeout(kill);
              done();
            });
            child.kill('SIGTERM');
          }),
      });
    });
    child.once('exit', (code) => fail(new Error(`app process exited with ${code}: ${output}`)));
  });
}
