import { sharedRedisEngines } from '../redis-targets.js';
import { runScriptContract } from './scripts.contract.js';

// Every script touches keys of one hash tag, so each runs on a Cluster unchanged.
runScriptContract('Cluster (3 masters)', () => sharedRedisEngines('cluster')('scripts:'));
