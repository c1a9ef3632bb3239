import { sharedRedisEngines } from '../redis-targets.js';
import { runCollectionsBehaviour } from './collections.behaviour.js';

const standalone = sharedRedisEngines('standalone');
const cluster = sharedRedisEngines('cluster');

runCollectionsBehaviour('Redis standalone', () => standalone('app:'));
runCollectionsBehaviour('Redis Cluster (3 masters)', () => cluster('app:'));
