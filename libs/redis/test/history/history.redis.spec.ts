import { sharedRedisEngines } from '../redis-targets.js';
import { runHistoryBehaviour } from './history.behaviour.js';

const standalone = sharedRedisEngines('standalone');
const cluster = sharedRedisEngines('cluster');

runHistoryBehaviour('Redis standalone', () => standalone('app:'));
runHistoryBehaviour('Redis Cluster (3 masters)', () => cluster('app:'));
