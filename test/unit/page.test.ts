/**
 * The page's pure helpers (static/page/paths.js, the plain ES module the browser imports): the
 * delete paths it builds name exactly the group shown, after the browser's URL parser and the
 * front door's path parser; the filter, limit and age texts.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { makeGroupingKey, parseGroupingPath } from '../../src/core/grouping-key.js';
import { parseJobsPath } from '../../src/core/admin.js';

interface Failure {
  path: string;
  status: number;
  code: string;
  problem: string;
}

interface Paths {
  formatSegment(name: string, value: string): string;
  groupDeletePath(job: string, labels: Record<string, string>): string;
  isGlobLike(job: string): boolean;
  jobDeletePath(job: string, dryRun: boolean): string;
  filterGlob(text: string): string;
  limitOf(search: string): number;
  groupsUrl(text: string, limit: number): string;
  formatAge(seconds: number): string;
  labelPairs(labels: Record<string, string>): string[];
  listNote(shown: number, matched: number): string;
  groupsTitle(asked: string, shown: string | null): string;
  readsProblem(failures: Failure[], hasToken: boolean, refreshSeconds: number): { kind: string; pause: boolean; text: string } | null;
  READS_BUSY: string;
  MAX_LIMIT: number;
  DEFAULT_LIMIT: number;
}

// A plain .js module outside the TypeScript project: imported by URL, typed here.
const paths = (await import(new URL('../../static/page/paths.js', import.meta.url).href)) as Paths;

/** Pages as a proxy may serve them: at the root, or under a prefix (with its trailing slash). */
const BASES = ['http://pushring.test/', 'http://pushring.test/pushring/', 'https://h.test/a/b%20c/'] as const;

/** The path a front door behind a proxy serving the page at `base` receives for `path` (the proxy strips the prefix). */
function sentFrom(path: string, base: string): string {
  const prefix = new URL(base).pathname.replace(/\/$/, '');
  const resolved = new URL(path, base).pathname;
  if (!resolved.startsWith(prefix + '/')) throw new Error(`${path} against ${base} left the prefix: ${resolved}`);
  return resolved.slice(prefix.length);
}

/** What the front door makes of a path the page fetches: through the WHATWG URL parser first, as a browser sends it. */
function keyFetched(path: string, base: string = BASES[0]): string {
  const sent = sentFrom(path, base);
  const parsed = parseGroupingPath(sent);
  if (!parsed.ok) throw new Error(`${path} (sent as ${sent}) does not parse: ${JSON.stringify(parsed)}`);
  return parsed.key.canonical;
}

const canonicalOf = (job: string, labels: Record<string, string>): string => makeGroupingKey(new Map([['job', job], ...Object.entries(labels)])).canonical;

describe('groupDeletePath', () => {
  it.each([
    ['batch', {}, 'metrics/job/batch'],
    ['batch', { instance: 'h1', zone: 'eu' }, 'metrics/job/batch/instance/h1/zone/eu'],
    ['batch', { zone: 'eu', instance: 'h1' }, 'metrics/job/batch/instance/h1/zone/eu'],
    ['team/x', {}, 'metrics/job@base64/dGVhbS94'],
    ['batch', { path: '/var/tmp' }, 'metrics/job/batch/path@base64/L3Zhci90bXA'],
    ['batch', { empty: '' }, 'metrics/job/batch/empty@base64/='],
    ['batch', { dot: '.' }, 'metrics/job/batch/dot@base64/Lg'],
    ['..', { dots: '..' }, 'metrics/job@base64/Li4/dots@base64/Li4'],
    ['<img src=x onerror=alert(1)>', {}, 'metrics/job/%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E'],
    ['batch', { q: 'a?b#c%d' }, 'metrics/job/batch/q/a%3Fb%23c%25d'],
    ['ünï', { v: '日本' }, 'metrics/job/%C3%BCn%C3%AF/v/%E6%97%A5%E6%9C%AC'],
    ['a:b', { c: 'http://x' }, 'metrics/job/a%3Ab/c@base64/aHR0cDovL3g'],
  ])('job %j labels %j: %s', (job, labels, path) => {
    expect(paths.groupDeletePath(job, labels)).toBe(path);
    for (const base of BASES) expect(keyFetched(path, base), base).toBe(canonicalOf(job, labels));
  });

  it.each([
    ['http://pushring.test/', '/metrics/job/batch/instance/h1'],
    ['http://pushring.test/pushring/', '/pushring/metrics/job/batch/instance/h1'],
    ['http://pushring.test/pushring/?limit=3#x', '/pushring/metrics/job/batch/instance/h1'],
  ])('resolves against the page at %s to %s', (base, resolved) => {
    expect(new URL(paths.groupDeletePath('batch', { instance: 'h1' }), base).pathname).toBe(resolved);
  });

  it('names the same group after the browser and the front door parse it, for any job and values', () => {
    const value = fc.string({ unit: fc.constantFrom('a', '/', '.', '%', '?', '#', ' ', '<', '"', '\\', '=', '+', 'é', '😀', '\u0000'), maxLength: 8 });
    const name = fc.stringMatching(/^[a-zA-Z_][a-zA-Z0-9_]{0,5}$/).filter((n) => n !== 'job' && !n.startsWith('__'));
    fc.assert(
      fc.property(
        value.filter((v) => v !== ''),
        fc.dictionary(name, value, { maxKeys: 4 }),
        fc.constantFrom(...BASES),
        (job, labels, base) => {
          expect(keyFetched(paths.groupDeletePath(job, labels), base)).toBe(canonicalOf(job, labels));
        },
      ),
    );
  });
});

describe('jobDeletePath', () => {
  it.each([
    ['batch', false, 'api/v1/admin/jobs/batch'],
    ['batch', true, 'api/v1/admin/jobs/batch?dry_run=true'],
    ['team/x', true, 'api/v1/admin/jobs/team%2Fx?dry_run=true'],
    ['a b#c', false, 'api/v1/admin/jobs/a%20b%23c'],
    ['..', false, 'api/v1/admin/jobs/..'],
  ])('%j (dry run %s): %s', (job, dryRun, path) => {
    expect(paths.jobDeletePath(job, dryRun)).toBe(path);
    for (const base of BASES) {
      const url = new URL(path, base);
      const parsed = parseJobsPath(sentFrom(path, base));
      if (job === '..') {
        // The browser resolves the dot segment: the call names the jobs path itself, which the server refuses; it never names another job.
        expect(parsed.ok, base).toBe(false);
      } else expect(parsed, base).toEqual({ ok: true, glob: job });
      expect(url.searchParams.get('dry_run'), base).toBe(dryRun ? 'true' : null);
    }
  });

  it.each([
    ['batch-*', true],
    ['what?', true],
    ['batch', false],
    ['team/x', false],
  ])('%j is glob-like: %s', (job, globLike) => {
    expect(paths.isGlobLike(job)).toBe(globLike);
  });
});

describe('the filter and the list', () => {
  it.each([
    ['', '*'],
    ['  ', '*'],
    ['batch', '*batch*'],
    [' batch ', '*batch*'],
    ['batch-*', 'batch-*'],
    ['b?tch', 'b?tch'],
  ])('filter %j asks for job %j', (text, glob) => {
    expect(paths.filterGlob(text)).toBe(glob);
  });

  it.each([
    ['', paths.DEFAULT_LIMIT],
    ['?limit=2', 2],
    ['?limit=0', 1],
    ['?limit=999999', paths.MAX_LIMIT],
    ['?limit=-3', paths.DEFAULT_LIMIT],
    ['?limit=abc', paths.DEFAULT_LIMIT],
  ])('page URL %j lists at most %i groups', (search, limit) => {
    expect(paths.limitOf(search)).toBe(limit);
  });

  it('never asks the server for more than MAX_LIMIT groups', () => {
    fc.assert(
      fc.property(fc.string(), (raw) => {
        const limit = paths.limitOf(`?limit=${encodeURIComponent(raw)}`);
        expect(limit).toBeGreaterThanOrEqual(1);
        expect(limit).toBeLessThanOrEqual(paths.MAX_LIMIT);
      }),
    );
  });

  it.each(BASES)('asks for the groups of the filter glob, from the page at %s', (base) => {
    const url = new URL(paths.groupsUrl('a&b', 20), base);
    expect(sentFrom(paths.groupsUrl('a&b', 20), base)).toBe('/-/api/groups');
    expect(Object.fromEntries(url.searchParams)).toEqual({ job: '*a&b*', limit: '20' });
  });

  it.each([
    [3, 3, '3 matching groups.'],
    [1, 1, '1 matching group.'],
    [2, 7, 'Showing the first 2 of 7 matching groups; narrow the filter to see others.'],
  ])('%i shown of %i: %s', (shown, matched, note) => {
    expect(paths.listNote(shown, matched)).toBe(note);
  });

  it.each([
    [-5, '0s'],
    [0, '0s'],
    [59.9, '59s'],
    [60, '1m 0s'],
    [3599, '59m 59s'],
    [3600, '1h 0m'],
    [86399, '23h 59m'],
    [90000, '1d 1h'],
  ])('an age of %ss reads %s', (seconds, text) => {
    expect(paths.formatAge(seconds)).toBe(text);
  });

  it.each([
    ['*', '*', 'Groups (job *)'],
    ['*lph*', '*lph*', 'Groups (job *lph*)'],
    ['*lph*', null, 'Groups (job *lph*)'],
    ['*lph*', '*', 'Groups (job *): still the list for job *, as the list for job *lph* could not be read'],
  ] as const)('asked for job %j with the rows of job %j shown, the heading reads %j', (asked, shown, title) => {
    expect(paths.groupsTitle(asked, shown)).toBe(title);
  });

  it('titles the rows with the glob they answer, never with a glob whose read failed', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 }), (typed, before) => {
        const asked = paths.filterGlob(typed);
        const shown = paths.filterGlob(before);
        const title = paths.groupsTitle(asked, shown);
        expect(title.startsWith(`Groups (job ${shown})`)).toBe(true);
        if (asked !== shown) expect(title).toContain(`could not be read`);
        else expect(title).toBe(`Groups (job ${asked})`);
      }),
    );
  });

  it('shows label values quoted, in name order', () => {
    expect(paths.labelPairs({ z: 'a"b', a: '<b>' })).toEqual(['a="<b>"', 'z="a\\"b"']);
  });
});

describe('what the page says when its reads fail', () => {
  const refused = (status: number): Failure => ({
    path: '-/status',
    status,
    code: status === 401 ? 'PUSHRING_UNAUTHENTICATED' : 'PUSHRING_FORBIDDEN',
    problem: `${status} Nope: pushring: no`,
  });
  const busy: Failure = { path: '-/api/groups?job=*', status: 503, code: 'PUSHRING_READS_BUSY', problem: '503 Service Unavailable: pushring: busy' };
  const down: Failure = { path: '-/api/refusals', status: 0, code: '', problem: 'no answer (Failed to fetch)' };

  it('says nothing when every read answered', () => {
    expect(paths.readsProblem([], false, 10)).toBeNull();
  });

  it.each([
    [[refused(401)], false, 'The front door refused to show its data (401 Nope: pushring: no): paste a bearer token above, or sign in with basic credentials'],
    [[refused(401), busy], true, 'the bearer token in use was not accepted'],
    [[busy, refused(403)], true, 'it needs the read scope'],
    [[refused(403), refused(401)], false, '(401 Nope'],
  ])('a refused read (%j, token %s) stops the refreshes and says what to do: %s', (failures, hasToken, text) => {
    const problem = paths.readsProblem(failures, hasToken, 10);
    expect(problem).toMatchObject({ kind: 'refused', pause: true });
    expect(problem!.text).toContain(text);
    expect(problem!.text).not.toContain('\n');
  });

  it('a busy front door is a notice, and the next regular refresh retries', () => {
    expect(paths.readsProblem([busy, busy], false, 10)).toEqual({
      kind: 'busy',
      pause: false,
      text: `The front door is busy with other reads (503 ${paths.READS_BUSY}); what is shown may be from an earlier refresh, and the next refresh (in 10 s) tries again.`,
    });
  });

  it('another failure is an error naming the read, the busy notice beside it', () => {
    expect(paths.readsProblem([down], false, 10)).toEqual({ kind: 'error', pause: false, text: 'Could not read: -/api/refusals: no answer (Failed to fetch)' });
    const mixed = paths.readsProblem([busy, down], false, 10)!;
    expect(mixed).toMatchObject({ kind: 'error', pause: false });
    expect(mixed.text).toContain('-/api/refusals: no answer');
    expect(mixed.text).toContain(paths.READS_BUSY);
  });

  it('pauses exactly when a read was refused, whatever else failed', () => {
    const failure = fc.record({
      path: fc.constantFrom('-/status', '-/api/groups?job=*', '-/api/refusals'),
      status: fc.constantFrom(0, 400, 401, 403, 500, 502, 503, 504),
      code: fc.constantFrom('', 'PUSHRING_READS_BUSY', 'PUSHRING_READ_INCOMPLETE'),
      problem: fc.string({ maxLength: 20 }),
    });
    fc.assert(
      fc.property(fc.array(failure, { minLength: 1, maxLength: 3 }), fc.boolean(), (failures, hasToken) => {
        const problem = paths.readsProblem(failures, hasToken, 10)!;
        expect(problem.pause).toBe(failures.some((f) => f.status === 401 || f.status === 403));
        expect(problem.kind === 'busy').toBe(failures.every((f) => f.status === 503 && f.code === 'PUSHRING_READS_BUSY'));
      }),
    );
  });
});

describe('the page names no root-relative URL', () => {
  it.each(['index.html', 'app.js', 'paths.js'])('%s', async (file) => {
    const { readFile } = await import('node:fs/promises');
    const text = await readFile(new URL(`../../static/page/${file}`, import.meta.url), 'utf8');
    // `href="/…"`, `src="/…"`, or a string literal starting with `/-/`, `/metrics` or `/api/`.
    expect(text).not.toMatch(/(?:href|src)="\//);
    expect(text).not.toMatch(/['"`]\/(?:-\/|metrics|api\/)/);
  });
});
