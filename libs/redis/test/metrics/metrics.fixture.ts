import { expect } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';

/** GETs a metrics endpoint and checks it answers in the Prometheus text format. */
export async function scrape(app: INestApplication, path = '/metrics'): Promise<string> {
  const response = await request(app.getHttpServer()).get(path).expect(200);
  expect(response.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
  return response.text;
}

/** The value of one sample, e.g. `redis_kit_engine_mode{connection="default",mode="redis"}`; undefined when absent. */
export function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}
