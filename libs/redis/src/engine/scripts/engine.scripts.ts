import { defineScript } from '../script.registry.js';

/** Generic atomic operations shared by the capabilities (locks for stampede control, counters). */

export const LOCK_RELEASE = defineScript({
  name: 'lock-release',
  version: 1,
  file: 'lock-release.lua',
  twin: (store, [key], [token]) => (store.get(key!) === token ? store.del(key!) : 0),
});

export const LOCK_EXTEND = defineScript({
  name: 'lock-extend',
  version: 1,
  file: 'lock-extend.lua',
  twin: (store, [key], [token, leaseMs]) => (store.get(key!) === token ? (store.pexpire(key!, Number(leaseMs)) ? 1 : 0) : 0),
});

export const COUNTER_INCR = defineScript({
  name: 'counter-incr',
  version: 1,
  file: 'counter-incr.lua',
  twin: (store, [key], [by, windowMs]) => {
    const value = store.incrBy(key!, Number(by));
    let ttl = store.pttl(key!);
    if (ttl < 0) {
      store.pexpire(key!, Number(windowMs));
      ttl = Number(windowMs);
    }
    return [value, ttl];
  },
});
