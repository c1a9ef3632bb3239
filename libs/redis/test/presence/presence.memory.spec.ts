import { MemoryEngine } from '../../src/engine/memory.engine.js';
import { runPresenceBehaviour } from './presence.behaviour.js';

// The embedded store: every instance of one process shares it, as instances share a Redis.
runPresenceBehaviour('embedded memory store', async () => {
  const engine = new MemoryEngine({ maxEntries: 100_000, maxBytes: 64 * 1024 * 1024 });
  return { a: engine, b: engine, c: engine, close: () => engine.close() };
});
