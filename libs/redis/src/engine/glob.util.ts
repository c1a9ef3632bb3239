/** Escapes Redis glob metacharacters so user data matches itself only inside a SCAN pattern. */
export function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

/**
 * One pattern position: a run of any units (`star` carries its 1-based ordinal among the pattern's
 * star runs), or exactly one unit of a set.
 */
type Token = { star: number; one: (c: number) => boolean };

export interface GlobMatcher {
  test(text: string): boolean;
}

/**
 * What one pattern position consumes: `'byte'` (Redis: a key is a byte string, so `?` takes one
 * byte of a UTF-8 character) or `'codepoint'` (one character, for globs over decoded names).
 */
export type GlobUnit = 'byte' | 'codepoint';

// Redis gives up on a path that enters more nested star runs than this (util.c, abusive patterns).
const MAX_STAR_NESTING = 1000;

/**
 * Compiles a Redis glob (`*`, `?`, `[abc]`, `[^a]`, `[a-z]`, `\x`) into a matcher with Redis'
 * `stringmatchlen` semantics: keys and patterns compared as UTF-8 bytes, range bounds as C `char`
 * (signed on x86-64, where bytes above 0x7F sort below `\0`), reversed ranges like `[z-a]`, `\`
 * inside classes, a class left open running to the end of the pattern, `*` never matching an empty
 * key, and no match through more than 1000 star runs. Matching is a two-pointer walk that only ever
 * backtracks to the last `*`: O(pattern × key) at worst, never exponential, so no pattern
 * (`*a*a*a*a*a?`) can stall the event loop.
 */
export function compileGlob(pattern: string, unit: GlobUnit = 'byte'): GlobMatcher {
  const tokens = tokenize(toUnits(pattern, unit), unit === 'byte');
  // A star run past the nesting limit fails every path through it, unless it ends the pattern (a
  // trailing `*` matches without descending).
  const deep = tokens.findIndex((t) => t.star > MAX_STAR_NESTING);
  if (deep >= 0 && deep < tokens.length - 1) return { test: () => false };
  return { test: (text) => matchTokens(tokens, toUnits(text, unit)) };
}

/** True when `text` matches the Redis glob `pattern`. */
export function globMatch(pattern: string, text: string, unit: GlobUnit = 'byte'): boolean {
  return compileGlob(pattern, unit).test(text);
}

const ASCII = /^[\x00-\x7f]*$/;

/** A string of ASCII characters is its own units (read in place, nothing allocated per key). */
type Units = string | ArrayLike<number>;

function toUnits(text: string, unit: GlobUnit): Units {
  if (ASCII.test(text)) return text;
  if (unit === 'byte') return Buffer.from(text, 'utf8');
  return Array.from(text, (ch) => ch.codePointAt(0)!);
}

function unitAt(units: Units, i: number): number | undefined {
  return typeof units === 'string' ? (i < units.length ? units.charCodeAt(i) : undefined) : units[i];
}

/** A byte as the C `char` Redis compares range bounds with (signed on the platforms it ships for). */
function asChar(b: number, bytes: boolean): number {
  return bytes && b > 127 ? b - 256 : b;
}

function tokenize(units: Units, bytes: boolean): Token[] {
  const p = typeof units === 'string' ? Array.from(units, (ch) => ch.charCodeAt(0)) : units;
  const STAR = 42;
  const QUESTION = 63;
  const OPEN = 91;
  const CLOSE = 93;
  const BACKSLASH = 92;
  const CARET = 94;
  const DASH = 45;
  const tokens: Token[] = [];
  let stars = 0;
  let i = 0;
  const n = p.length;
  while (i < n) {
    const c = p[i]!;
    if (c === STAR) {
      while (i < n && p[i] === STAR) i++;
      tokens.push({ star: ++stars, one: () => false });
      continue;
    }
    if (c === QUESTION) {
      tokens.push({ star: 0, one: () => true });
      i++;
      continue;
    }
    if (c === OPEN) {
      // Mirrors the class loop of Redis' stringmatchlen (util.c) step by step.
      i++;
      const not = p[i] === CARET;
      if (not) i++;
      const singles = new Set<number>();
      const ranges: Array<[number, number]> = [];
      for (;;) {
        if (p[i] === BACKSLASH && n - i >= 2) {
          i++;
          singles.add(p[i]!);
        } else if (p[i] === CLOSE) {
          break;
        } else if (i >= n) {
          break;
        } else if (n - i >= 3 && p[i + 1] === DASH) {
          let a = asChar(p[i]!, bytes);
          let b = asChar(p[i + 2]!, bytes);
          if (a > b) [a, b] = [b, a];
          ranges.push([a, b]);
          i += 2;
        } else {
          singles.add(p[i]!);
        }
        i++;
      }
      i++; // past ']' (or past the end of an unterminated class)
      tokens.push({
        star: 0,
        one: (ch) => {
          let hit = singles.has(ch);
          if (!hit) {
            const v = asChar(ch, bytes);
            for (const [a, b] of ranges) if (v >= a && v <= b) hit = true;
          }
          return not ? !hit : hit;
        },
      });
      continue;
    }
    let code: number;
    if (c === BACKSLASH && n - i >= 2) {
      code = p[i + 1]!;
      i += 2;
    } else {
      code = c;
      i++;
    }
    tokens.push({ star: 0, one: (ch) => ch === code });
  }
  return tokens;
}

function matchTokens(tokens: readonly Token[], text: Units): boolean {
  // Redis never enters its loop for an empty string: only an empty pattern matches it.
  if (text.length === 0) return tokens.length === 0;
  let t = 0;
  let s = 0;
  let starT = -1;
  let starS = 0;
  const tn = tokens.length;
  const sn = text.length;
  while (s < sn) {
    const tok = t < tn ? tokens[t]! : undefined;
    if (tok && tok.star > 0) {
      starT = t++;
      starS = s;
    } else if (tok && tok.one(unitAt(text, s)!)) {
      t++;
      s++;
    } else if (starT >= 0) {
      // Let the last star swallow one more unit and retry the rest from there.
      t = starT + 1;
      s = ++starS;
    } else {
      return false;
    }
  }
  while (t < tn && tokens[t]!.star > 0) t++;
  return t === tn;
}
