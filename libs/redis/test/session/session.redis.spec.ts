import { sharedRedisEngines } from '../redis-targets.js';
import { runSessionSuite } from './session.behaviour.js';

const open = sharedRedisEngines('standalone');

runSessionSuite('Redis standalone', () => open('app:'));
