/**
 * Job patterns of the configuration (limits, expiry, credentials): globs over the whole job name.
 * `*` is any run of characters (`/` included), `?` one character (a code point); everything
 * else is literal. Matching is linear in the name times the pattern: a job name is the client's
 * to choose, and a backtracking regular expression (one `[\s\S]*` per star) took seconds on a
 * few kilobytes of name against `*-*-*-x`.
 */
export interface Glob {
  test(name: string): boolean;
}

export function compileGlob(glob: string): Glob {
  const pattern = Array.from(glob);
  if (!pattern.some((c) => c === '*' || c === '?')) return { test: (name) => name === glob };
  return { test: (name) => matches(pattern, Array.from(name)) };
}

/** Greedy matching with one remembered star: each star extends by one character at a time at most once per position. */
function matches(pattern: readonly string[], name: readonly string[]): boolean {
  let p = 0;
  let n = 0;
  let star = -1;
  let resume = 0;
  while (n < name.length) {
    if (p < pattern.length && (pattern[p] === '?' || (pattern[p] !== '*' && pattern[p] === name[n]))) {
      p++;
      n++;
    } else if (p < pattern.length && pattern[p] === '*') {
      star = p++;
      resume = n;
    } else if (star !== -1) {
      p = star + 1;
      n = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.length && pattern[p] === '*') p++;
  return p === pattern.length;
}
