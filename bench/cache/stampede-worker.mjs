// One app instance for the stampede part: boots RedisModule (as a user would), waits for "go",
// fires N concurrent getOrSet on one cold key and prints its loader runs.
import 'reflect-metadata';
import { createInterface } from 'node:readline';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { CacheService, RedisModule } from 'nestjs-redis-kit';

const { url, key, calls, loaderMs } = JSON.parse(process.env.BENCH_STAMPEDE);
Logger.overrideLogger(false);
const app = await NestFactory.createApplicationContext(RedisModule.forRoot({ url, keyPrefix: 'stampede:', commandTimeoutMs: 2_000 }), { logger: false });
const cache = app.get(CacheService);
process.stdout.write('READY\n');
const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  if (line.trim() !== 'go') continue;
  let loads = 0;
  const loader = async () => {
    loads++;
    await new Promise((r) => setTimeout(r, loaderMs));
    return { by: process.pid };
  };
  const results = await Promise.allSettled(Array.from({ length: calls }, () => cache.getOrSet(key, loader)));
  const ok = results.filter((r) => r.status === 'fulfilled').length;
  process.stdout.write(`RESULT ${JSON.stringify({ loads, ok })}\n`);
  break;
}
lines.close();
await app.close();
