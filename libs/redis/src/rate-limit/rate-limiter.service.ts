import { Inject, Injectable, Optional } from '@nestjs/common';
import { RedisConnection } from '../connection/redis.connection.js';
import { createLocalEngine } from '../engine/local.engine.js';
import type { StoreEngine } from '../engine/store-engine.port.js';
import { RATE_LIMIT_ALGORITHM_CODE, rateLimitBatchScript, rateLimitCheckScript } from '../engine/scripts/rate-limit.scripts.js';
import type { ScriptDefinition } from '../engine/script.registry.js';
import { RedisMetrics } from '../metrics/redis-metrics.js';
import { RedisTimeoutError, RedisUnavailableError } from '../redis.errors.js';
import { BlockCache } from './rate-limit.block-cache.js';
import { LoopTimeDeadline } from './rate-limit.loop-deadline.js';
import { msToRetryAfterSeconds, type PolicyOutcome } from './rate-limit.headers.js';
import { encodeSubject } from './rate-limit.identity.js';
import {
  checkCost,
  resolvePolicy,
  resolveRateLimitModuleOptions,
  type RateLimitOptions,
  type ResolvedPolicy,
  type ResolvedRateLimitModuleOptions,
} from './rate-limit.options.js';

/** Injection token of the resolved `rateLimit` section of the default connection's options. */
export const RATE_LIMIT_OPTIONS = 'REDIS:RATE_LIMIT_OPTIONS';

/** A policy bound to where it was declared: module defaults, a controller, or a handler. */
export interface ScopedPolicy extends ResolvedPolicy {
  /**
   * The budget's scope: `g` for module defaults, the controller's path or the route (`/auth`,
   * `GET /auth/login`; WebSocket `ws /chat say`, RPC `rpc {"cmd":"sum"}`) for declared policies,
   * `s` for `RateLimiter.consume`.
   */
  scope: string;
}

/** Where a decision came from; `blocked` = the local block cache, no Redis call. */
export type DecisionSource = 'redis' | 'memory' | 'local' | 'blocked';

/** The verdict on one request over all policies that apply, with each policy's outcome and where it came from. */
export interface RateLimitDecision {
  allowed: boolean;
  /** 503 when a `'closed'` policy could not be checked, 429 when a policy refused, 200 otherwise. */
  status: number;
  outcomes: PolicyOutcome[];
  /** The policy that refused (the one asking for the longest wait). */
  refusedBy?: PolicyOutcome;
  sources: DecisionSource[];
  /** Milliseconds until the same request could pass: 0 when allowed, at least 1 s worth when refused. */
  retryMs?: number;
  /** `Retry-After` in whole seconds (at least 1) when refused; 0 when allowed. */
  retryAfter?: number;
}

/** One policy charged to one subject: what `RateLimiter.decide` takes (the guards build these). */
export interface RateLimitCharge {
  policy: ScopedPolicy;
  /** The counter's key: `rl:{<subject>}:<scope>:<name>:<algorithm>`; every key of one subject shares the hash tag. */
  key: string;
  /** The subject (its hash tag); charges of one subject are decided by one script call. */
  subject: string;
  cost: number;
}

interface Batch {
  /** The first request's charges: keys and policy parameters are the same for every request. */
  charges: readonly RateLimitCharge[];
  requests: Array<{ charges: readonly RateLimitCharge[]; resolve: (r: GroupResult) => void; reject: (e: unknown) => void }>;
}

// Most requests one batch call decides (ARGV grows by one number per request and policy).
const MAX_BATCH = 256;

interface GroupResult {
  outcomes: PolicyOutcome[];
  source: DecisionSource;
  /** Set when a `'closed'` policy could not be checked. */
  unavailable?: ScopedPolicy;
}

const ALGORITHM_SUFFIX = { 'sliding-window': 's', 'fixed-window': 'f', 'token-bucket': 'b' } as const;

// Pauses between asking Redis again after a call failed while the breaker stayed closed.
const RETRY_DELAYS_MS = [10, 25, 50, 100, 200, 400];

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

// How long a decision waits for a breaker that just opened to close again before following
// whenUnavailable (bounded by decisionTimeoutMs).
const OUTAGE_GRACE_MS = 1_000;

// How long a client is told to wait when a 'closed' policy cannot be checked: about one probe cycle.
export const UNAVAILABLE_RETRY_MS = 1_000;

/** `rl:{<subject>}:<scope>:<name>:<algorithm>`: one hash tag per subject, so one script covers its policies on Cluster. */
export function rateLimitKey(subject: string, policy: ScopedPolicy): string {
  return `rl:{${subject}}:${policy.scope}:${policy.name}:${ALGORITHM_SUFFIX[policy.algorithm]}`;
}

/**
 * The rate-limit decision, apart from any transport: the HTTP `RateLimitGuard`, the WebSocket and
 * RPC guards and application code (jobs, gateways, handlers) all go through it.
 *
 * ```ts
 * const d = await limiter.consume(`tenant:${id}`, { limit: 100, window: '1m', name: 'exports' });
 * if (!d.allowed) throw new Error(`retry in ${d.retryAfter} s`);
 * ```
 *
 * All policies of one subject are decided by one script call (one EVALSHA), charged only if all
 * allow. A subject refused recently is refused from the block cache without a call. Decisions come
 * from Redis: a reply that is merely late (the event loop lagged under a burst) still decides, up to
 * `rateLimit.decisionTimeoutMs`. Only while the connection's breaker is open (Redis is away), or past
 * that ceiling, does each policy follow its `whenUnavailable`.
 */
@Injectable()
export class RateLimiter {
  readonly settings: ResolvedRateLimitModuleOptions;
  private readonly blocked: BlockCache;
  /** The `'local'` limiter: same script twin, own bounded store, never cleared by recovery. */
  private readonly local: StoreEngine;
  /** Policies given to `consume` as options, resolved once per object. */
  private readonly resolved = new WeakMap<object, ScopedPolicy>();
  /** The decision ceiling, in event-loop-free time (see `rateLimit.decisionTimeoutMs`). */
  private readonly deadline: LoopTimeDeadline;
  private readonly backstopMs: number;
  /** Decisions waiting for this turn's flush, by subject keys and policy parameters. */
  private readonly batches = new Map<string, Batch>();
  private flushScheduled = false;
  /** When the connection left `redis` mode (performance.now()), 0 while it serves from Redis. */
  private leftRedisAt = 0;
  private recovered?: { promise: Promise<void>; resolve: () => void };

  constructor(
    private readonly connection: RedisConnection,
    @Optional() @Inject(RATE_LIMIT_OPTIONS) options?: ResolvedRateLimitModuleOptions,
    @Optional() private readonly metrics?: RedisMetrics,
  ) {
    this.settings = options ?? resolveRateLimitModuleOptions(undefined);
    this.blocked = new BlockCache(this.settings.blockCacheSize);
    this.local = createLocalEngine({ maxEntries: this.settings.localMaxEntries });
    this.deadline = new LoopTimeDeadline(this.settings.decisionTimeoutMs);
    this.backstopMs = 3 * this.settings.decisionTimeoutMs;
    connection.engine.onModeChange((mode) => {
      if (mode === 'redis') {
        this.leftRedisAt = 0;
        this.recovered?.resolve();
        this.recovered = undefined;
      } else if (this.leftRedisAt === 0) this.leftRedisAt = performance.now();
    });
  }

  /**
   * Charges `cost` units to `subject` under every policy, or none if one refuses. `subject` is any
   * string (a user id, a tenant, a socket's address); it is encoded so it cannot leave its key
   * segment. Budgets of `consume` are their own (scope `s`): they do not share counters with a
   * guarded route's policy of the same name. `cost` (default: each policy's own `cost`, else 1)
   * must be an integer from 1 to each policy's limit.
   */
  async consume(subject: string, policies: RateLimitOptions | readonly RateLimitOptions[], cost?: number): Promise<RateLimitDecision> {
    if (typeof subject !== 'string' || subject.length === 0) throw new TypeError('RateLimiter.consume: subject must be a non-empty string');
    const list: readonly RateLimitOptions[] = Array.isArray(policies) ? policies : [policies as RateLimitOptions];
    const tag = `k:${encodeSubject(subject)}`;
    const charges: RateLimitCharge[] = list.map((options, i) => {
      const policy = this.policyOf(options, i);
      let units = cost ?? (typeof policy.cost === 'number' ? policy.cost : 1);
      if (cost !== undefined) checkCost(units, policy.limit, `RateLimiter.consume "${policy.name}"`);
      else if (typeof policy.cost === 'function') units = 1;
      return { policy, key: rateLimitKey(tag, policy), subject: tag, cost: units };
    });
    const decision = await this.decide(charges);
    this.record(decision);
    return decision;
  }

  /** Decides prepared charges (grouped by subject: one script call per subject, concurrently). */
  async decide(charges: readonly RateLimitCharge[]): Promise<RateLimitDecision> {
    if (charges.length === 0) return { allowed: true, status: 200, outcomes: [], sources: [], retryMs: 0, retryAfter: 0 };
    let results: GroupResult[];
    const first = charges[0]!.subject;
    if (charges.every((c) => c.subject === first)) {
      // The common case (every policy keyed by the same subject): no grouping, no Promise.all.
      results = [await this.decideGroup(charges)];
    } else {
      const groups = new Map<string, RateLimitCharge[]>();
      for (const c of charges) {
        const group = groups.get(c.subject);
        if (group) group.push(c);
        else groups.set(c.subject, [c]);
      }
      results = await Promise.all([...groups.values()].map((g) => this.decideGroup(g)));
    }
    return summarize(results);
  }

  /** Metrics for a decision: allowed counts every charged policy, refused only the one that refused. */
  record(decision: RateLimitDecision): void {
    if (!this.metrics?.enabled || decision.outcomes.length === 0) return;
    if (!decision.allowed) {
      if (decision.refusedBy) this.metrics.rateLimitRefused(decision.refusedBy.name);
      return;
    }
    for (const o of decision.outcomes) this.metrics.rateLimitAllowed(o.name);
  }

  private policyOf(options: RateLimitOptions, index: number): ScopedPolicy {
    if (options === null || typeof options !== 'object') return { ...resolvePolicy(options, `RateLimiter.consume policy ${index}`), scope: 's' };
    let policy = this.resolved.get(options);
    if (!policy) {
      policy = { ...resolvePolicy(options, `RateLimiter.consume policy ${index}`), scope: 's' };
      this.resolved.set(options, policy);
    }
    return policy;
  }

  private async decideGroup(charges: readonly RateLimitCharge[]): Promise<GroupResult> {
    if (this.settings.blockCache && this.blocked.size > 0) {
      const now = Date.now();
      for (const c of charges) {
        const ms = this.blocked.blockedFor(c.key, c.cost, now);
        if (ms > 0) {
          // Only the blocking policy is known without asking; the others are left out of `RateLimit`.
          return {
            source: 'blocked',
            outcomes: charges.map((x) => (x === c ? outcome(x.policy, true, false, 0, ms, ms) : outcome(x.policy, false, true, 0, 0, 0))),
          };
        }
      }
    }
    const mode = this.connection.engine.mode();
    if ((mode === 'fallback' || mode === 'unavailable') && !(await this.backSoon())) return this.degraded(charges);
    if (!this.settings.coalesce) return this.decideAlone(charges);
    // Decisions for the same keys issued in the same event-loop turn go to Redis as one batch call.
    const sig = signatureOf(charges);
    let batch = this.batches.get(sig);
    if (!batch) {
      batch = { charges, requests: [] };
      this.batches.set(sig, batch);
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(this.flush);
      }
    }
    return new Promise<GroupResult>((resolve, reject) => {
      batch.requests.push({ charges, resolve, reject });
      if (batch.requests.length >= MAX_BATCH) {
        this.batches.delete(sig);
        void this.runBatch(batch);
      }
    });
  }

  /**
   * The breaker opened less than `OUTAGE_GRACE_MS` ago: wait for it to close again within that
   * grace. A dropped connection that comes straight back (CLIENT KILL, a proxy recycling sockets)
   * reconnects and is probed within a few hundred ms; deciding a burst from the per-instance limiter
   * meanwhile would admit up to N x the limit. True when Redis is back.
   */
  private async backSoon(): Promise<boolean> {
    if (this.leftRedisAt === 0) return false;
    const remaining = this.leftRedisAt + Math.min(OUTAGE_GRACE_MS, this.settings.decisionTimeoutMs) - performance.now();
    if (remaining <= 0) return false;
    if (!this.recovered) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      this.recovered = { promise, resolve };
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.recovered.promise, new Promise<void>((resolve) => (timer = setTimeout(resolve, remaining)))]);
    clearTimeout(timer);
    return this.connection.engine.mode() === 'redis';
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    const batches = [...this.batches.values()];
    this.batches.clear();
    for (const b of batches) void this.runBatch(b);
  };

  private async runBatch(batch: Batch): Promise<void> {
    const requests = batch.requests;
    if (requests.length === 1) {
      const r = requests[0]!;
      this.decideAlone(r.charges).then(r.resolve, r.reject);
      return;
    }
    const n = batch.charges.length;
    const args = argsOf(batch.charges);
    args.push(requests.length);
    for (const r of requests) for (const c of r.charges) args.push(c.cost);
    const answer = await this.ask(rateLimitBatchScript(n), keysOf(batch.charges), args);
    if (answer === 'timeout') {
      for (const r of requests) this.degraded(r.charges).then(r.resolve, r.reject);
      return;
    }
    if (answer === 'unavailable') {
      // Redis could not answer the batch: each request on its own (asked again, or degraded).
      for (const r of requests) this.decideAlone(r.charges).then(r.resolve, r.reject);
      return;
    }
    if (answer instanceof Error) {
      for (const r of requests) r.reject(answer);
      return;
    }
    const { reply, source } = answer;
    const width = 1 + 4 * n;
    requests.forEach((r, k) => {
      try {
        r.resolve({ source, outcomes: this.readReply(r.charges, reply, 1 + k * width) });
      } catch (error) {
        r.reject(error);
      }
    });
  }

  private async decideAlone(charges: readonly RateLimitCharge[]): Promise<GroupResult> {
    const engine = this.connection.engine;
    const ceiling = Date.now() + this.settings.decisionTimeoutMs;
    const script = rateLimitCheckScript(charges.length);
    const keys = keysOf(charges);
    const args = argsOf(charges);
    for (let attempt = 0; ; attempt++) {
      const answer = await this.ask(script, keys, args);
      if (answer instanceof Error) throw answer;
      if (typeof answer === 'object') return { source: answer.source, outcomes: this.readReply(charges, answer.reply, 1) };
      // 'local' is for an outage, and only the breaker says there is one. A call that failed while
      // the breaker is still closed (a node connection being re-established, a slot moving) is
      // asked again, within the ceiling; a retry after a lost reply can only over-count, never over-admit.
      const pause = RETRY_DELAYS_MS[Math.min(attempt, RETRY_DELAYS_MS.length - 1)]!;
      if (answer === 'timeout' || Date.now() + pause >= ceiling) return this.degraded(charges);
      if (engine.mode() === 'redis') await sleep(pause);
      if (engine.mode() !== 'redis' && !(await this.backSoon())) return this.degraded(charges);
    }
  }

  /**
   * One script call: the reply; `'timeout'` (the ceiling passed) or `'unavailable'` when Redis could
   * not answer (the caller decides: ask again or degrade); an Error for anything else.
   */
  private async ask(script: ScriptDefinition, keys: string[], args: number[]): Promise<{ reply: number[]; source: DecisionSource } | Error | 'timeout' | 'unavailable'> {
    const engine = this.connection.engine;
    const mode = engine.mode();
    try {
      // A command written to Redis and not answered yet is no evidence Redis is away: the reply
      // decides if it comes within the (generous) decision ceiling, however late for commandTimeoutMs.
      // The ceiling counts only time this process's event loop was free to read the reply; the
      // engine's own deadline for the call (three times the ceiling, wall clock) is the backstop that
      // tells the breaker about a Redis that stopped answering.
      const reply = (await this.deadline.race(engine.runScript(script, keys, args, { fallback: false, timeoutMs: this.backstopMs }))) as number[];
      // No Redis configured: the embedded store is the store of record, not a fallback.
      return { reply, source: mode === 'embedded' ? 'memory' : 'redis' };
    } catch (error) {
      if (error instanceof RedisTimeoutError) return 'timeout';
      if (error instanceof RedisUnavailableError) return 'unavailable';
      return error instanceof Error ? error : new Error(String(error));
    }
  }

  /** Redis could not decide: each policy follows its `whenUnavailable`. */
  private async degraded(charges: readonly RateLimitCharge[]): Promise<GroupResult> {
    if (this.metrics?.enabled) for (const c of charges) this.metrics.rateLimitUnchecked(c.policy.name, c.policy.whenUnavailable);
    const closed = charges.find((c) => c.policy.whenUnavailable === 'closed');
    if (closed) {
      // Refused before the local limiter runs, so a refused request charges nothing there either.
      return {
        source: 'local',
        unavailable: closed.policy,
        outcomes: charges.map((c) => outcome(c.policy, false, c !== closed, 0, 0, c === closed ? UNAVAILABLE_RETRY_MS : 0)),
      };
    }
    const local = charges.filter((c) => c.policy.whenUnavailable === 'local');
    const outcomes = charges.map((c) => outcome(c.policy, false, true, 0, 0, 0));
    if (local.length > 0) {
      const reply = (await this.local.runScript(rateLimitCheckScript(local.length), keysOf(local), argsOf(local))) as number[];
      const decided = this.readReply(local, reply, 1);
      local.forEach((c, i) => (outcomes[charges.indexOf(c)] = decided[i]!));
    }
    return { source: 'local', outcomes };
  }

  /** Outcomes of one request from a reply; `at` is the index of its `allowed` flag. */
  private readReply(charges: readonly RateLimitCharge[], reply: number[], at: number): PolicyOutcome[] {
    const out: PolicyOutcome[] = new Array(charges.length);
    let now = 0;
    for (let i = 0; i < charges.length; i++) {
      const c = charges[i]!;
      const o = at + 1 + i * 4;
      const allowed = reply[o] === 1;
      const retryMs = reply[o + 3]!;
      if (!allowed && this.settings.blockCache) this.blocked.block(c.key, (now ||= Date.now()) + retryMs, c.cost);
      out[i] = outcome(c.policy, true, allowed, reply[o + 1]!, reply[o + 2]!, retryMs);
    }
    return out;
  }
}

function summarize(results: readonly GroupResult[]): RateLimitDecision {
  const outcomes = results.length === 1 ? results[0]!.outcomes : results.flatMap((r) => r.outcomes);
  let unavailable: ScopedPolicy | undefined;
  for (const r of results) if (r.unavailable) unavailable ??= r.unavailable;
  let refusedBy: PolicyOutcome | undefined;
  for (const o of outcomes) if (o.known && !o.allowed && (!refusedBy || o.retryMs > refusedBy.retryMs)) refusedBy = o;
  if (!refusedBy && unavailable) refusedBy = outcomes.find((o) => o.name === unavailable.name);
  const status = refusedBy ? (unavailable && !refusedBy.known ? 503 : 429) : 200;
  const retryMs = refusedBy ? refusedBy.retryMs || UNAVAILABLE_RETRY_MS : 0;
  return {
    allowed: !refusedBy,
    status,
    outcomes,
    refusedBy,
    sources: results.map((r) => r.source),
    retryMs,
    retryAfter: refusedBy ? Math.max(1, msToRetryAfterSeconds(retryMs)) : 0,
  };
}

export function outcome(policy: ResolvedPolicy, known: boolean, allowed: boolean, remaining: number, resetMs: number, retryMs: number): PolicyOutcome {
  return { name: policy.name, limit: policy.limit, windowMs: policy.windowMs, known, allowed, remaining, resetMs, retryMs };
}

/** Same keys and same policy parameters: requests that one batch call can decide in order. */
function signatureOf(charges: readonly RateLimitCharge[]): string {
  let sig = '';
  for (const c of charges) sig += `${c.key}\u0000${c.policy.limit}\u0000${c.policy.windowMs}\u0000`;
  return sig;
}

function keysOf(charges: readonly RateLimitCharge[]): string[] {
  const keys: string[] = new Array(charges.length);
  for (let i = 0; i < charges.length; i++) keys[i] = charges[i]!.key;
  return keys;
}

function argsOf(charges: readonly RateLimitCharge[]): number[] {
  const args = [0];
  for (const c of charges) args.push(RATE_LIMIT_ALGORITHM_CODE[c.policy.algorithm], c.policy.limit, c.policy.windowMs, c.cost);
  return args;
}
