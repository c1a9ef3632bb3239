import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
// @ts-expect-error a plain .mjs script without declarations; `generate` returns { text, count }
import { generate } from '../../../../scripts/gen-lua.mjs';

const GENERATED = new URL('./lua.generated.ts', import.meta.url);

describe('lua.generated.ts', () => {
  it('inlines exactly the .lua files under engine/scripts (run `node scripts/gen-lua.mjs` when this fails)', () => {
    const { text, count } = generate() as { text: string; count: number };
    expect(count).toBeGreaterThan(0);
    expect(readFileSync(GENERATED, 'utf8')).toBe(text);
  });
});
