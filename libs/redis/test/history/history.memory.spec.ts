import { MemoryEngine } from '../../src/engine/memory.engine.js';
import { runHistoryBehaviour } from './history.behaviour.js';

runHistoryBehaviour('the embedded memory store', async () => {
  const engine = new MemoryEngine({ maxEntries: 100_000, maxBytes: 64 * 1024 * 1024 });
  return { engine, close: () => engine.close() };
});
