import { sharedRedisEngines } from '../redis-targets.js';
import { runPresenceBehaviour, type EnginePair } from './presence.behaviour.js';

const standalone = sharedRedisEngines('standalone');
const cluster = sharedRedisEngines('cluster');
let pairs = 0;

/** Three instances, each on its own connection, under one key prefix per test. */
const pairOn = (open: typeof standalone) => async (): Promise<EnginePair> => {
  const prefix = `pr${++pairs}:`;
  const targets = [await open(prefix), await open(prefix), await open(prefix)];
  return {
    a: targets[0]!.engine,
    b: targets[1]!.engine,
    c: targets[2]!.engine,
    close: async () => {
      for (const t of targets) await t.close();
    },
  };
};

runPresenceBehaviour('Redis standalone', pairOn(standalone));
runPresenceBehaviour('Redis Cluster (3 masters)', pairOn(cluster));
