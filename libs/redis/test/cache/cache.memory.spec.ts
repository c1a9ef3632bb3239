import { runCacheSuite } from './cache.behaviour.js';

// The embedded engine (no Redis configured): the same behaviour, within one process.
runCacheSuite({ label: 'the memory engine', options: () => ({}), shared: false });
