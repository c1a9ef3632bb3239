import { Logger } from '@nestjs/common';
import type { Cluster, Redis } from 'ioredis';
import { RedisConfigError } from '../redis.errors.js';
import type { RedisConnection } from './redis.connection.js';

/** What to do when data that must not be evicted sits on a Redis whose policy evicts. */
export type EvictionCheckMode = 'warn' | 'refuse' | 'off';

/**
 * `noeviction` is the only policy that never deletes a key to make room: `allkeys-*` evict anything,
 * `volatile-*` evict keys that have a TTL, which every session and deny-list entry has.
 */
export const evictionPolicyEvicts = (policy: string): boolean => policy !== 'noeviction';

/** `maxmemory_policy` from an `INFO memory` reply (Redis 7 reports it there: no CONFIG needed, which may be disabled or denied). */
export function policyFromInfo(info: unknown): string | undefined {
  return /^maxmemory_policy:(\S+)/m.exec(String(info))?.[1];
}

/** Reads the policy of every node that holds data (each master of a Cluster); distinct values, sorted. */
export async function readEvictionPolicies(client: Redis | Cluster): Promise<string[]> {
  const nodes: Redis[] = client.isCluster ? (client as Cluster).nodes('master') : [client as Redis];
  const replies = await Promise.all(nodes.map((node) => node.call('INFO', 'memory')));
  const policies = replies.map((reply) => policyFromInfo(reply) ?? 'unknown');
  return [...new Set(policies)].sort();
}

/**
 * Watches one connection that holds data which must not be evicted (sessions, the deny-list). Its
 * verdict is re-read at start-up, whenever the connection (re)connects, and on every health probe;
 * one warning is logged per policy seen, never one per probe.
 */
export class EvictionWatch {
  private readonly logger: Logger;
  private policies: string[] = [];
  private warnedFor = '';

  constructor(
    readonly connection: RedisConnection,
    readonly mode: EvictionCheckMode,
    /** What lives there, for messages: e.g. 'sessions and the deny-list'. */
    readonly holds: string,
  ) {
    this.logger = new Logger(connection.name === 'default' ? 'Redis' : `Redis:${connection.name}`);
  }

  /** The risk as a sentence, or undefined when the policy cannot evict (or was not read yet). */
  risk(): string | undefined {
    const evicting = this.policies.filter(evictionPolicyEvicts).filter((p) => p !== 'unknown');
    if (evicting.length === 0) return undefined;
    return `${this.holds} live on connection "${this.connection.name}", whose maxmemory-policy ${evicting.join(',')} can evict them (a session or revoked token silently gone); use a noeviction Redis for them (session.connection)`;
  }

  /** Records what a probe read and warns once per new evicting policy. */
  observe(policies: string[]): string | undefined {
    this.policies = policies;
    const risk = this.risk();
    const key = policies.join(',');
    if (risk && key !== this.warnedFor) {
      this.warnedFor = key;
      if (this.mode === 'refuse') this.logger.error(`${risk}. session.evictionCheck is 'refuse': fix the policy (CONFIG SET maxmemory-policy noeviction) or the connection`);
      else this.logger.warn(risk);
    }
    if (!risk) this.warnedFor = '';
    return risk;
  }

  /** Reads the policy now; with `refuse`, an evicting policy throws (start-up stops). Silent when Redis is not reachable. */
  async check(timeoutMs = 2_000): Promise<string | undefined> {
    const client = this.connection.client;
    if (!client || this.connection.status() !== 'connected') return undefined;
    let timer: NodeJS.Timeout | undefined;
    try {
      const policies = await Promise.race([
        readEvictionPolicies(client),
        new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs))),
      ]);
      const risk = this.observe(policies);
      return risk;
    } catch (error) {
      this.logger.warn(`Could not read maxmemory-policy on connection "${this.connection.name}" (${error instanceof Error ? error.message.split('\n')[0] : String(error)}); grant INFO to check that ${this.holds} cannot be evicted`);
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Start-up: with `refuse`, an evicting policy stops the application. */
  async checkAtStartup(): Promise<void> {
    const risk = await this.check();
    if (risk && this.mode === 'refuse') {
      throw new RedisConfigError([`session.evictionCheck is 'refuse' and ${risk}`]);
    }
  }
}

const watches = new WeakMap<RedisConnection, EvictionWatch>();

export function watchEviction(connection: RedisConnection, mode: EvictionCheckMode, holds: string): EvictionWatch {
  const watch = new EvictionWatch(connection, mode, holds);
  watches.set(connection, watch);
  return watch;
}

/** The watch on a connection, if something that must not be evicted lives there. */
export function evictionWatchOf(connection: RedisConnection): EvictionWatch | undefined {
  return watches.get(connection);
}
