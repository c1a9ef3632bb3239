/** Escapes Redis glob metacharacters so user data matches itself only inside a SCAN pattern. */
export function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

/** One pattern position: a run of any characters, or exactly one character of a set. */
type Token = { star: true } | { star: false; one: (c: number) => boolean };

export interface GlobMatcher {
  test(text: string): boolean;
}

/**
 * Compiles a Redis glob (`*`, `?`, `[abc]`, `[^a]`, `[a-z]`, `\x`) into a matcher with Redis'
 * `stringmatchlen` semantics (reversed ranges like `[z-a]`, `\` inside classes, an unterminated
 * class running to the end of the pattern, `*` never matching an empty key), compared per UTF-16
 * unit. Matching is a two-pointer walk that only ever backtracks to the last `*`: O(pattern × key)
 * at worst, never exponential, so no pattern (`*a*a*a*a*a?`) can stall the event loop.
 */
export function compileGlob(pattern: string): GlobMatcher {
  const tokens = tokenize(pattern);
  return { test: (text) => matchTokens(tokens, text) };
}


/** True when `text` matches the Redis glob `pattern`. */
export function globMatch(pattern: string, text: string): boolean {
  return matchTokens(tokenize(pattern), text);
}

function tokenize(p: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const n = p.length;
  while (i < n) {
    const c = p[i]!;
    if (c === '*') {
      while (i < n && p[i] === '*') i++;
      tokens.push({ star: true });
      continue;
    }
    if (c === '?') {
      tokens.push({ star: false, one: () => true });
      i++;
      continue;
    }
    if (c === '[') {
      // Mirrors the class loop of Redis' stringmatchlen (util.c) step by step.
      i++;
      const not = p[i] === '^';
      if (not) i++;
      const singles = new Set<number>();
      const ranges: Array<[number, number]> = [];
      for (;;) {
        if (p[i] === '\\' && n - i >= 2) {
          i++;
          singles.add(p.charCodeAt(i));
        } else if (p[i] === ']') {
          break;
        } else if (i >= n) {
          break;
        } else if (n - i >= 3 && p[i + 1] === '-') {
          let a = p.charCodeAt(i);
          let b = p.charCodeAt(i + 2);
          if (a > b) [a, b] = [b, a];
          ranges.push([a, b]);
          i += 2;
        } else {
          singles.add(p.charCodeAt(i));
        }
        i++;
      }
      i++; // past ']' (or past the end of an unterminated class)
      tokens.push({
        star: false,
        one: (ch) => {
          let hit = singles.has(ch);
          if (!hit) for (const [a, b] of ranges) if (ch >= a && ch <= b) hit = true;
          return not ? !hit : hit;
        },
      });
      continue;
    }
    let code: number;
    if (c === '\\' && n - i >= 2) {
      code = p.charCodeAt(i + 1);
      i += 2;
    } else {
      code = p.charCodeAt(i);
      i++;
    }
    tokens.push({ star: false, one: (ch) => ch === code });
  }
  return tokens;
}

function matchTokens(tokens: readonly Token[], text: string): boolean {
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
    if (tok && tok.star) {
      starT = t++;
      starS = s;
    } else if (tok && tok.one(text.charCodeAt(s))) {
      t++;
      s++;
    } else if (starT >= 0) {
      // Let the last star swallow one more character and retry the rest from there.
      t = starT + 1;
      s = ++starS;
    } else {
      return false;
    }
  }
  while (t < tn && tokens[t]!.star) t++;
  return t === tn;
}
