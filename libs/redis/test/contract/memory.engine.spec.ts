import { MemoryEngine } from '../../src/engine/memory.engine.js';
import { runStoreEngineContract } from './store-engine.contract.js';

runStoreEngineContract('memory', async () => {
  const engine = new MemoryEngine({ maxEntries: 100_000, maxBytes: 64 * 1024 * 1024 });
  return { engine, mode: 'embedded', close: () => engine.close() };
});
