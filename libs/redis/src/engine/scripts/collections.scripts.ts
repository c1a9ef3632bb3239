import { defineScript } from '../script.registry.js';

/** Atomic operations of the collections (maps, migration batches). */

export const COLLECTION_MAP_PUT = defineScript({
  name: 'collection-map-put',
  version: 1,
  file: 'collection-map-put.lua',
  twin: (store, [key], [overwrite, ...pairs]) => {
    let written = 0;
    for (let i = 0; i + 1 < pairs.length; i += 2) {
      if (overwrite !== '1' && store.hget(key!, pairs[i]!) !== null) continue;
      store.hset(key!, { [pairs[i]!]: pairs[i + 1]! });
      written++;
    }
    return written;
  },
});
