import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DemoDatabase } from '../../apps/demo/src/database/database.service.js';
import { startRedis, type RedisProcess } from '@nestjs-redis-kit/test-support';
import { bootDemo, bootGateway, clearAppEnv, SECRET, setEnv, snapshotEnv, type Running } from './e2e.fixture.js';

const README = new URL('../../README.md', import.meta.url);
const HEADING = '## Walk through the API';
const README_GATEWAY = 'http://127.0.0.1:3001';

interface Step {
  line: string;
  assign?: { name: string; path: string };
  words: string[];
  expect: number;
}

/** The ```sh blocks of the walkthrough section, one step per command line. */
function steps(markdown: string): Step[] {
  const start = markdown.indexOf(HEADING);
  if (start < 0) throw new Error(`README.md has no "${HEADING}" section`);
  const end = markdown.indexOf('\n## ', start + HEADING.length);
  const section = markdown.slice(start, end < 0 ? undefined : end);
  const out: Step[] = [];
  for (const block of section.matchAll(/```sh\n([\s\S]*?)```/g)) {
    for (const raw of block[1]!.split('\n')) {
      const line = raw.trim();
      if (line === '' || line.startsWith('#')) continue;
      const expectMatch = /\s+# expect (\d{3})$/.exec(line);
      if (!expectMatch) throw new Error(`walkthrough line without "# expect <status>": ${line}`);
      let command = line.slice(0, expectMatch.index);
      let assign: Step['assign'];
      const capture = /^([A-Z_]+)=\$\((curl .*) \| jq -r (\.[A-Za-z0-9_.]+)\)$/.exec(command);
      if (capture) {
        assign = { name: capture[1]!, path: capture[3]! };
        command = capture[2]!;
      }
      out.push({ line, assign, words: shellWords(command), expect: Number(expectMatch[1]) });
    }
  }
  return out;
}

/** Enough of sh word splitting for the README: '…', "…" with \" and $VAR, bare words with $VAR. */
function shellWords(command: string): string[] {
  const words: string[] = [];
  let i = 0;
  while (i < command.length) {
    while (command[i] === ' ') i++;
    if (i >= command.length) break;
    let word = '';
    while (i < command.length && command[i] !== ' ') {
      const c = command[i]!;
      if (c === "'") {
        const close = command.indexOf("'", i + 1);
        word += command.slice(i + 1, close);
        i = close + 1;
      } else if (c === '"') {
        i++;
        while (command[i] !== '"') {
          if (command[i] === '\\') word += command[++i];
          else word += command[i];
          i++;
        }
        i++;
      } else {
        word += c;
        i++;
      }
    }
    words.push(word);
  }
  return words;
}

const expand = (text: string, vars: Map<string, string>) =>
  text.replace(/\$([A-Z_]+)/g, (_, name: string) => {
    if (!vars.has(name)) throw new Error(`$${name} is used before the walkthrough sets it`);
    return vars.get(name)!;
  });

describe('README "Walk through the API" runs as written', () => {
  const restoreEnv = snapshotEnv();
  let redis: RedisProcess;
  let db: DemoDatabase;
  let demo: Running;
  let gateway: Running;

  beforeAll(async () => {
    redis = await startRedis();
    clearAppEnv();
    setEnv({ REDIS_URL: redis.url, GATEWAY_SHARED_SECRET: SECRET, DEMO_RECOMMENDATION_MS: '200' });
    db = await DemoDatabase.open({ path: ':memory:', latencyMs: 0 });
    demo = await bootDemo(db);
    gateway = await bootGateway([demo.url]);
  });

  afterAll(async () => {
    await gateway?.app.close();
    await demo?.app.close();
    db?.onApplicationShutdown();
    await redis?.stop();
    restoreEnv();
  });

  it('every curl command answers with the status its "# expect" comment gives', async () => {
    const all = steps(readFileSync(README, 'utf8'));
    expect(all.length).toBeGreaterThanOrEqual(15);
    const vars = new Map<string, string>();
    const results: string[] = [];
    for (const step of all) {
      const [curl, ...args] = step.words;
      expect(curl).toBe('curl');
      let method = 'GET';
      let url = '';
      let body: string | undefined;
      let stream = false;
      const headers: Record<string, string> = {};
      for (let i = 0; i < args.length; i++) {
        const a = args[i]!;
        if (a === '-s' || a === '-i') continue;
        if (a === '-N') stream = true;
        else if (a === '-X') method = args[++i]!;
        else if (a === '-H') {
          const h = expand(args[++i]!, vars);
          const colon = h.indexOf(':');
          headers[h.slice(0, colon).trim().toLowerCase()] = h.slice(colon + 1).trim();
        } else if (a === '-d') {
          body = expand(args[++i]!, vars);
          if (method === 'GET') method = 'POST';
        } else if (a.startsWith('-')) throw new Error(`the walkthrough test does not know curl option ${a} (${step.line})`);
        else url = expand(a, vars);
      }
      expect(url.startsWith(README_GATEWAY)).toBe(true);
      const target = gateway.url + url.slice(README_GATEWAY.length);
      const abort = new AbortController();
      const response = await fetch(target, { method, headers, body, signal: abort.signal });
      results.push(`${response.status} ${step.line}`);
      expect({ line: step.line, status: response.status }).toEqual({ line: step.line, status: step.expect });
      if (stream) {
        expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
        abort.abort();
        continue;
      }
      const text = await response.text();
      if (step.assign) {
        let value: unknown = JSON.parse(text);
        for (const key of step.assign.path.slice(1).split('.')) value = (value as Record<string, unknown>)[key];
        expect(value).toBeDefined();
        vars.set(step.assign.name, String(value));
      }
    }
    expect(results).toHaveLength(all.length);
  });
});
