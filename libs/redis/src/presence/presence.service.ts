import { Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { PRESENCE_STATUS, PRESENCE_SYNC, PRESENCE_USER } from '../engine/scripts/presence.scripts.js';
import type { ScriptReply } from '../engine/script.types.js';
import type { StoreEngine } from '../engine/store-engine.port.js';
import { RedisTimeoutError, RedisUnavailableError } from '../redis.errors.js';
import { PresenceInputError } from './presence.errors.js';
import {
  ALL_KEY,
  checkPresenceId,
  indexMember,
  newInstanceId,
  roomKey,
  socketOfUserMember,
  statusKey,
  userMember,
  userOfIndexMember,
  userSetKey,
} from './presence.keys.js';
import { resolvePresenceOptions, type PresenceOptions, type ResolvedPresenceOptions } from './presence.options.js';

interface LocalSocket {
  userId: string;
  rooms: Set<string>;
}

/** Writes to one presence set waiting for their turn; sent together as one script call. */
interface Batch {
  touched: Set<string>;
  refresh: boolean;
  done: Promise<void>;
}

interface Lane {
  tail: Promise<void>;
  open?: Batch;
}

/** Members per script call: a heartbeat of a very large room is split rather than stalling Redis. */
const CHUNK = 1_000;
/** Removals kept for Redis while it is away; past this they lapse by their TTL instead. */
const RETRY_LIMIT = 100_000;
/** How long shutdown waits for this instance's sockets to be taken off Redis. */
const SHUTDOWN_WAIT_MS = 2_000;

const isAway = (error: unknown): boolean => error instanceof RedisUnavailableError || error instanceof RedisTimeoutError;
const noop = (): void => undefined;

/**
 * Who is online, across every instance: user ↔ sockets, rooms, and a status per user.
 *
 * Each instance registers its own sockets under a random instance id and refreshes them every
 * `heartbeat`; entries are scored by their expiry on the Redis clock, so a crashed instance's
 * sockets vanish within `ttl` whatever the instances' clocks say, and a live instance re-registers
 * everything it holds on every heartbeat (after a Redis restart, nothing it holds stays lost).
 *
 * While Redis is away, answers come from this instance's memory: its own sockets, rooms and the
 * statuses it knows; writes are kept and sent when Redis returns.
 */
@Injectable()
export class PresenceService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('Presence');
  private readonly options: ResolvedPresenceOptions;
  /** This instance's identity in every entry it writes. */
  private readonly instance = newInstanceId();
  private readonly sockets = new Map<string, LocalSocket>();
  /** Presence-set key → the members this instance holds there: what Redis is brought to. */
  private readonly local = new Map<string, Set<string>>();
  private readonly lanes = new Map<string, Lane>();
  /** Statuses of this instance's users, for answers while Redis is away. */
  private readonly statuses = new Map<string, string>();
  /** Users whose status was set while Redis was away, to be written when it returns. */
  private readonly pendingStatus = new Set<string>();
  /** Members whose removal did not reach Redis, per key, re-sent by the next heartbeat. */
  private readonly retry = new Map<string, Set<string>>();
  private retryCount = 0;
  private timer: NodeJS.Timeout | undefined;
  private stopModeListener: (() => void) | undefined;
  private beating: Promise<void> | undefined;

  /**
   * Presence on `engine` (the module provides one on the default connection). Call `onModuleInit()`
   * to start the heartbeat and `onModuleDestroy()` to stop it when not created by Nest.
   */
  constructor(
    private readonly engine: StoreEngine,
    options?: PresenceOptions,
  ) {
    this.options = resolvePresenceOptions(options);
  }

  /** Starts the heartbeat (an unref'd timer: it never keeps the process alive). */
  onModuleInit(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.heartbeat(), this.options.heartbeatMs);
    this.timer.unref();
    // Back from an outage: re-register at once rather than at the next tick.
    this.stopModeListener = this.engine.onModeChange((mode) => {
      if (mode === 'redis') void this.heartbeat();
    });
  }

  /** Stops the heartbeat and takes this instance's sockets off Redis, so its users do not linger for `ttl`. */
  async onModuleDestroy(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    this.stopModeListener?.();
    this.stopModeListener = undefined;
    if (this.sockets.size === 0) return;
    const writes: Promise<void>[] = [];
    for (const [socketId, entry] of [...this.sockets]) writes.push(...this.drop(socketId, entry));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled(writes), new Promise<void>((resolve) => (timer = setTimeout(resolve, SHUTDOWN_WAIT_MS)))]);
    clearTimeout(timer);
  }

  /**
   * Registers `socketId` of `userId` on this instance. Connecting the same socket again only
   * refreshes it; a socket id that belonged to another user on this instance is moved to `userId`
   * (leaving its rooms).
   */
  async connect(userId: string, socketId: string): Promise<void> {
    const user = checkPresenceId(userId, 'a user id');
    const socket = checkPresenceId(socketId, 'a socket id');
    const writes: Promise<void>[] = [];
    const existing = this.sockets.get(socket);
    if (existing && existing.userId !== user) writes.push(...this.drop(socket, existing));
    if (!existing || existing.userId !== user) {
      this.sockets.set(socket, { userId: user, rooms: new Set() });
      this.hold(userSetKey(user), userMember(this.instance, socket));
      this.hold(ALL_KEY, indexMember(user, this.instance, socket));
    }
    writes.push(this.push(userSetKey(user), [userMember(this.instance, socket)]), this.push(ALL_KEY, [indexMember(user, this.instance, socket)]));
    await Promise.all(writes);
  }

  /** Unregisters a socket of this instance (and its rooms). An unknown socket is a no-op. */
  async disconnect(socketId: string): Promise<void> {
    const socket = checkPresenceId(socketId, 'a socket id');
    const entry = this.sockets.get(socket);
    if (!entry) return;
    await Promise.all(this.drop(socket, entry));
  }

  /** Adds a connected socket of this instance to `room`; fails for a socket it does not hold. */
  async join(socketId: string, room: string): Promise<void> {
    const socket = checkPresenceId(socketId, 'a socket id');
    const name = checkPresenceId(room, 'a room');
    const entry = this.sockets.get(socket);
    if (!entry) throw new PresenceInputError(`socket ${JSON.stringify(socket)} is not connected on this instance: call connect(userId, socketId) first`);
    const member = indexMember(entry.userId, this.instance, socket);
    entry.rooms.add(name);
    this.hold(roomKey(name), member);
    await this.push(roomKey(name), [member]);
  }

  /** Takes a socket of this instance out of `room`; a no-op when it is not there. */
  async leave(socketId: string, room: string): Promise<void> {
    const socket = checkPresenceId(socketId, 'a socket id');
    const name = checkPresenceId(room, 'a room');
    const entry = this.sockets.get(socket);
    if (!entry?.rooms.delete(name)) return;
    const member = indexMember(entry.userId, this.instance, socket);
    this.release(roomKey(name), member);
    await this.push(roomKey(name), [member]);
  }

  /** Whether `userId` has a live socket on any instance. */
  async isOnline(userId: string): Promise<boolean> {
    return (await this.socketsOf(userId)).length > 0;
  }

  /** The distinct users with a live socket (in `room` when given), sorted. */
  async onlineUsers(room?: string): Promise<string[]> {
    const key = room === undefined ? ALL_KEY : roomKey(checkPresenceId(room, 'a room'));
    const members = (await this.read(PRESENCE_SYNC, [key])) ?? [...(this.local.get(key) ?? [])];
    return [...new Set(members.map(userOfIndexMember))].sort();
  }

  /** The live sockets of `userId` on every instance, sorted. */
  async socketsOf(userId: string): Promise<string[]> {
    const user = checkPresenceId(userId, 'a user id');
    const members = (await this.read(PRESENCE_USER, [userSetKey(user), statusKey(user)])) ?? [...(this.local.get(userSetKey(user)) ?? [])];
    return [...new Set(members.map(socketOfUserMember))].sort();
  }

  /**
   * Sets the status of a user who has a live socket (on any instance), e.g. an agent's availability.
   * It lives as long as the user's presence: when their last socket goes (or lapses with its
   * instance), so does the status. For a user with no live socket nothing is stored.
   */
  async setStatus(userId: string, status: string): Promise<void> {
    const user = checkPresenceId(userId, 'a user id');
    const value = checkPresenceId(status, 'a status');
    if (!this.away()) {
      try {
        let [live] = (await this.engine.runScript(PRESENCE_STATUS, [userSetKey(user), statusKey(user)], ['1', value], { fallback: false })) as number[];
        if (live === 0 && this.local.has(userSetKey(user))) {
          // Held here but not (yet again) on Redis, e.g. just after a Redis restart: register, then set.
          await this.push(userSetKey(user), [], true);
          [live] = (await this.engine.runScript(PRESENCE_STATUS, [userSetKey(user), statusKey(user)], ['1', value], { fallback: false })) as number[];
        }
        if (this.local.has(userSetKey(user))) this.statuses.set(user, value);
        this.pendingStatus.delete(user);
        return;
      } catch (error) {
        if (!isAway(error)) throw error;
      }
    }
    if (!this.local.has(userSetKey(user))) {
      throw new RedisUnavailableError(`Redis is unavailable: the status of a user with no socket on this instance cannot be set now`);
    }
    this.statuses.set(user, value);
    this.pendingStatus.add(user);
  }

  /** The status of `userId`, or undefined when they have none or no live socket. */
  async status(userId: string): Promise<string | undefined> {
    const user = checkPresenceId(userId, 'a user id');
    const heldHere = this.local.has(userSetKey(user));
    if (!this.away() && !this.pendingStatus.has(user)) {
      try {
        const reply = (await this.engine.runScript(PRESENCE_STATUS, [userSetKey(user), statusKey(user)], ['0'], { fallback: false })) as [number, string?];
        if (reply[0] === 1 || !heldHere) {
          const value = reply[0] === 1 ? reply[1] : undefined;
          if (heldHere) {
            if (value === undefined) this.statuses.delete(user);
            else this.statuses.set(user, value);
          }
          return value;
        }
        // Held here but not on Redis (restarted, not yet re-registered): this instance knows better.
      } catch (error) {
        if (!isAway(error)) throw error;
      }
    }
    return heldHere ? this.statuses.get(user) : undefined;
  }

  // ---- internals ------------------------------------------------------------------------------

  private away(): boolean {
    const mode = this.engine.mode();
    return mode === 'fallback' || mode === 'unavailable';
  }

  /** The live members of a presence set, or undefined when only this instance's memory can answer. */
  private async read(script: typeof PRESENCE_SYNC, keys: string[]): Promise<string[] | undefined> {
    if (this.away()) return undefined;
    try {
      const [, ...members] = (await this.engine.runScript(script, keys, [this.options.ttlMs, '1', 0], { fallback: false })) as [number, ...string[]];
      return members;
    } catch (error) {
      if (isAway(error)) return undefined;
      throw error;
    }
  }

  private hold(key: string, member: string): void {
    let members = this.local.get(key);
    if (!members) this.local.set(key, (members = new Set()));
    members.add(member);
  }

  private release(key: string, member: string): void {
    const members = this.local.get(key);
    if (!members?.delete(member)) return;
    if (members.size === 0) this.local.delete(key);
  }

  /** Forgets a socket here and returns the writes that take it off Redis. */
  private drop(socketId: string, entry: LocalSocket): Promise<void>[] {
    this.sockets.delete(socketId);
    const member = indexMember(entry.userId, this.instance, socketId);
    const own = userMember(this.instance, socketId);
    const writes = [this.push(userSetKey(entry.userId), [own]), this.push(ALL_KEY, [member])];
    this.release(userSetKey(entry.userId), own);
    this.release(ALL_KEY, member);
    for (const room of entry.rooms) {
      this.release(roomKey(room), member);
      writes.push(this.push(roomKey(room), [member]));
    }
    if (!this.local.has(userSetKey(entry.userId))) {
      this.statuses.delete(entry.userId);
      this.pendingStatus.delete(entry.userId);
    }
    return writes;
  }

  /**
   * Brings `members` of the set `key` (all it holds when `refresh`) to what this instance holds,
   * after the writes already queued for that key: writes to one set reach Redis in order, and
   * writes that queue meanwhile go together in one call. What is sent is read when the call
   * leaves, so a late heartbeat can never bring back a socket disconnected in between.
   */
  private push(key: string, members: readonly string[], refresh = false): Promise<void> {
    let lane = this.lanes.get(key);
    if (!lane) this.lanes.set(key, (lane = { tail: Promise.resolve() }));
    const current = lane;
    let batch = current.open;
    if (!batch) {
      const created: Batch = { touched: new Set(), refresh: false, done: Promise.resolve() };
      created.done = current.tail.then(() => {
        if (current.open === created) current.open = undefined;
        return this.send(key, created);
      });
      current.open = batch = created;
      const tail = created.done.then(noop, noop);
      current.tail = tail;
      void tail.then(() => {
        if (current.tail === tail && current.open === undefined && this.lanes.get(key) === current) this.lanes.delete(key);
      });
    }
    for (const member of members) batch.touched.add(member);
    if (refresh) batch.refresh = true;
    return batch.done;
  }

  private async send(key: string, batch: Batch): Promise<void> {
    const held = this.local.get(key);
    const adds = new Set<string>(batch.refresh && held ? held : []);
    const removes: string[] = [];
    for (const member of batch.touched) {
      if (held?.has(member)) adds.add(member);
      else removes.push(member);
    }
    const isUser = key.startsWith('presence:u:');
    const keys = isUser ? [key, `presence:s:${key.slice('presence:u:'.length)}`] : [key];
    const addList = [...adds];
    let reply: ScriptReply[] = [];
    for (let i = 0; i === 0 || i < addList.length + removes.length; i += CHUNK) {
      const chunkAdds = addList.slice(i, i + CHUNK);
      const chunkRemoves = removes.slice(Math.max(0, i - addList.length), Math.max(0, i + CHUNK - addList.length));
      if (chunkAdds.length + chunkRemoves.length === 0) return;
      try {
        // A user's set replies with the user's status: the heartbeat learns it at no extra cost.
        const args = [this.options.ttlMs, isUser ? '2' : '0', chunkAdds.length, ...chunkAdds, ...chunkRemoves];
        reply = (await this.engine.runScript(isUser ? PRESENCE_USER : PRESENCE_SYNC, keys, args, { fallback: false })) as ScriptReply[];
      } catch (error) {
        if (!isAway(error)) throw error;
        // Adds come back with the next heartbeat; removals are kept for it (or lapse by their TTL).
        this.keepForRetry(key, removes.slice(Math.max(0, i - addList.length)));
        return;
      }
    }
    if (isUser) await this.reconcileStatus(decodeURIComponent(key.slice('presence:u:{pu:'.length, -1)), reply);
  }

  /**
   * After a write to a held user's set: learns the status Redis has, or writes the one this instance
   * knows where it must: one set while Redis was away overrides; any other only fills in where Redis
   * has none (lost in a restart), never over a newer one written by another instance.
   */
  private async reconcileStatus(user: string, reply: ScriptReply[]): Promise<void> {
    if (!this.local.has(userSetKey(user)) || reply[0] === 0) return;
    const known = this.statuses.get(user);
    const pending = this.pendingStatus.has(user);
    if (typeof reply[1] === 'string' && !pending) {
      this.statuses.set(user, reply[1]);
      return;
    }
    if (known === undefined || (typeof reply[1] === 'string' && reply[1] === known)) {
      this.pendingStatus.delete(user);
      return;
    }
    try {
      const [, current] = (await this.engine.runScript(PRESENCE_STATUS, [userSetKey(user), statusKey(user)], [pending ? '1' : '2', known], { fallback: false })) as [number, string?];
      if (this.statuses.get(user) !== known) return; // set again meanwhile: that call wrote it
      this.pendingStatus.delete(user);
      if (current !== undefined) this.statuses.set(user, current);
    } catch (error) {
      if (!isAway(error)) this.logger.warn(`presence: could not write the status of a user: ${String(error)}`);
    }
  }

  private keepForRetry(key: string, members: readonly string[]): void {
    if (members.length === 0) return;
    let kept = this.retry.get(key);
    if (!kept) this.retry.set(key, (kept = new Set()));
    for (const member of members) {
      if (this.retryCount >= RETRY_LIMIT) return;
      if (!kept.has(member)) {
        kept.add(member);
        this.retryCount++;
      }
    }
  }

  /** One heartbeat at a time; one started while another runs waits for it. */
  private heartbeat(): Promise<void> {
    this.beating ??= this.beat().finally(() => (this.beating = undefined));
    return this.beating;
  }

  private async beat(): Promise<void> {
    if (this.away()) return;
    const writes: Promise<void>[] = [];
    const retry = [...this.retry];
    this.retry.clear();
    this.retryCount = 0;
    for (const [key, members] of retry) writes.push(this.push(key, [...members]));
    for (const key of this.local.keys()) writes.push(this.push(key, [], true));
    const failed = (await Promise.allSettled(writes)).find((r) => r.status === 'rejected');
    if (failed) this.logger.warn(`presence heartbeat: ${String((failed as PromiseRejectedResult).reason)}`);
  }
}
