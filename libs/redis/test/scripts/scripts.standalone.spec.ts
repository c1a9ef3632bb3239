import { sharedRedisEngines } from '../redis-targets.js';
import { runScriptContract } from './scripts.contract.js';

runScriptContract('standalone', () => sharedRedisEngines('standalone')('scripts:'));
