import type { MemoryStore } from '../memory.store.js';
import { defineScript, type ScriptDefinition, type ScriptReply } from '../script.registry.js';

/** Algorithm codes as the script reads them from ARGV. */
export const RATE_LIMIT_ALGORITHM_CODE = { 'sliding-window': 1, 'fixed-window': 2, 'token-bucket': 3 } as const;

/** The most policies one request may carry (one key each); bounds the script variants below. */
export const MAX_POLICIES_PER_CALL = 16;

interface PolicyState {
  capacity: number;
  used: number;
  charged: number;
  unit: number;
  reset0: number;
  reset1: number;
  retry: number;
  state: string;
  ttl: number;
}

/**
 * Twin of `rate-limit-check.lua`, statement for statement: same integer arithmetic in the same
 * order (IEEE doubles on both sides), so replies are bit-identical on the same input. The only
 * intended difference is the first element: 0 here, 1 from Lua, which is how the guard tells a
 * decision made by Redis from one the fallback engine answered from memory.
 */
export function rateLimitCheckTwin(store: MemoryStore, keys: readonly string[], args: readonly string[], nowMs: number): ScriptReply {
  let now = Number(args[0]);
  if (now === 0) now = nowMs;
  const policies: PolicyState[] = [];
  let allowed = true;

  for (let i = 0; i < keys.length; i++) {
    const base = 1 + i * 4;
    const algorithm = Number(args[base]);
    const limit = Number(args[base + 1]);
    const window = Number(args[base + 2]);
    const cost = Number(args[base + 3]);
    const raw = store.get(keys[i]!);
    let p: PolicyState;
    if (algorithm === 1) {
      const idx = Math.floor(now / window);
      const e = now - idx * window;
      let curr = 0;
      let prev = 0;
      const m = raw === null ? null : /^(\d+):(\d+):(\d+)$/.exec(raw);
      if (m) {
        const si = Number(m[1]);
        if (si === idx) {
          curr = Number(m[2]);
          prev = Number(m[3]);
        } else if (si === idx - 1) prev = Number(m[2]);
      }
      const used = prev * (window - e) + curr * window;
      const charged = used + cost * window;
      let retry: number;
      if (charged <= limit * window) retry = 0;
      else if (curr + cost <= limit) retry = window - Math.floor(((limit - curr - cost) * window) / prev) - e;
      else retry = window - e + Math.max(0, window - Math.floor(((limit - cost) * window) / curr));
      p = {
        unit: window,
        capacity: limit * window,
        used,
        charged,
        retry,
        reset0: curr > 0 ? 2 * window - e : prev > 0 ? window - e : 0,
        reset1: 2 * window - e,
        state: `${idx}:${curr + cost}:${prev}`,
        ttl: 2 * window - e,
      };
    } else if (algorithm === 2) {
      let start = now;
      let count = 0;
      const m = raw === null ? null : /^(\d+):(\d+)$/.exec(raw);
      if (m && now < Number(m[1]) + window) {
        start = Number(m[1]);
        count = Number(m[2]);
      }
      const charged = count + cost;
      p = {
        unit: 1,
        capacity: limit,
        used: count,
        charged,
        retry: charged <= limit ? 0 : start + window - now,
        reset0: count > 0 ? start + window - now : 0,
        reset1: start + window - now,
        state: `${start}:${charged}`,
        ttl: start + window - now,
      };
    } else {
      let tm = now;
      let tf = 0;
      const m = raw === null ? null : /^(\d+):(\d+)$/.exec(raw);
      if (m) {
        const sm = Number(m[1]);
        const sf = Number(m[2]);
        if (sm > now || (sm === now && sf > 0)) {
          tm = sm;
          tf = sf;
        }
      }
      const step = cost * window;
      let nm = tm + Math.floor(step / limit);
      let nf = tf + (step % limit);
      if (nf >= limit) {
        nf -= limit;
        nm += 1;
      }
      const capacity = window * limit;
      const used = (tm - now) * limit + tf;
      const charged = (nm - now) * limit + nf;
      const reset1 = Math.ceil(charged / limit);
      p = {
        unit: window,
        capacity,
        used,
        charged,
        retry: charged <= capacity ? 0 : Math.ceil((charged - capacity) / limit),
        reset0: Math.ceil(used / limit),
        reset1,
        state: `${nm}:${nf}`,
        ttl: reset1,
      };
    }
    if (p.retry > 0) allowed = false;
    policies.push(p);
  }

  const reply: number[] = [0, allowed ? 1 : 0];
  policies.forEach((p, i) => {
    let left: number;
    if (allowed) {
      left = p.capacity - p.charged;
      store.set(keys[i]!, p.state, { ttlMs: p.ttl });
    } else left = p.capacity - p.used;
    if (left < 0) left = 0;
    reply.push(p.retry === 0 ? 1 : 0, Math.floor(left / p.unit), allowed ? p.reset1 : p.reset0, p.retry);
  });
  return reply;
}

const RATE_LIMIT_CHECK = defineScript({ name: 'rate-limit-check', version: 2, file: 'rate-limit-check.lua', twin: rateLimitCheckTwin });

const variants = new Map<number, ScriptDefinition>();

/**
 * The check script for a request with `policyCount` keys. ioredis' defineCommand fixes the key
 * count per command, so each count gets its own command name over the same Lua (one SHA on the
 * server); the header declares KEYS[1] as the pattern of the n keys.
 */
export function rateLimitCheckScript(policyCount: number): ScriptDefinition {
  if (!Number.isInteger(policyCount) || policyCount < 1 || policyCount > MAX_POLICIES_PER_CALL) {
    throw new RangeError(`a rate-limit check takes 1 to ${MAX_POLICIES_PER_CALL} policies (got ${policyCount})`);
  }
  let script = variants.get(policyCount);
  if (!script) {
    script = { ...RATE_LIMIT_CHECK, numberOfKeys: policyCount, commandName: `${RATE_LIMIT_CHECK.commandName}_k${policyCount}` };
    variants.set(policyCount, script);
  }
  return script;
}

/**
 * Twin of `rate-limit-batch.lua`: the requests one after the other through the single-request twin,
 * which is what the Lua does in one call.
 */
export function rateLimitBatchTwin(store: MemoryStore, keys: readonly string[], args: readonly string[], nowMs: number): ScriptReply {
  const n = keys.length;
  const requests = Number(args[1 + 4 * n]);
  const single = args.slice(0, 1 + 4 * n);
  const reply: number[] = [0];
  for (let r = 0; r < requests; r++) {
    const first = 2 + 4 * n + r * n;
    for (let i = 0; i < n; i++) single[4 + 4 * i] = args[first + i]!;
    const one = rateLimitCheckTwin(store, keys, single, nowMs) as number[];
    for (let j = 1; j < one.length; j++) reply.push(one[j]!);
  }
  return reply;
}

const RATE_LIMIT_BATCH = defineScript({ name: 'rate-limit-batch', version: 1, file: 'rate-limit-batch.lua', twin: rateLimitBatchTwin });

const batchVariants = new Map<number, ScriptDefinition>();

/** The batch script for `policyCount` keys (one command name per key count, as `rateLimitCheckScript`). */
export function rateLimitBatchScript(policyCount: number): ScriptDefinition {
  if (!Number.isInteger(policyCount) || policyCount < 1 || policyCount > MAX_POLICIES_PER_CALL) {
    throw new RangeError(`a rate-limit batch takes 1 to ${MAX_POLICIES_PER_CALL} policies (got ${policyCount})`);
  }
  let script = batchVariants.get(policyCount);
  if (!script) {
    script = { ...RATE_LIMIT_BATCH, numberOfKeys: policyCount, commandName: `${RATE_LIMIT_BATCH.commandName}_k${policyCount}` };
    batchVariants.set(policyCount, script);
  }
  return script;
}
