import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { REDIS_ENV_VARIABLES } from '../../src/config/redis-env.loader.js';
import { redisAclRule, REDIS_SENTINEL_ACL_RULE } from '../../src/connection/redis-acl.js';

const ROOT = join(import.meta.dirname, '../../../..');
const read = (file: string) => readFileSync(join(ROOT, file), 'utf8');

describe('operations guide and configuration tables', () => {
  it('docs/operations.md shows the ACL rule redisAclRule() produces (the one the ACL tests run under)', () => {
    expect(read('docs/operations.md')).toContain(`ACL SETUSER app on >long-random-password ${redisAclRule({ keyPrefix: 'app:' })}\n`);
    expect(read('docs/operations.md')).toContain(`user sentinel-app on >long-random-password ${REDIS_SENTINEL_ACL_RULE}\n`);
  });

  it('the README table and .env.example list every variable redisOptionsFromEnv reads', () => {
    const readme = read('README.md');
    const example = read('.env.example');
    for (const name of REDIS_ENV_VARIABLES) {
      expect({ name, inReadme: readme.includes(`| \`${name}\` |`) }).toEqual({ name, inReadme: true });
      expect({ name, inEnvExample: example.includes(`# ${name}=`) }).toEqual({ name, inEnvExample: true });
    }
  });
});
