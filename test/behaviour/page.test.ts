/**
 * The page at `/` in headless Chromium (Debian's), over real Pushgateways (2 shards x 2
 * replicas): it shows every job and every shard, each group on its owner's shard, a failed push
 * marked, client-chosen markup as text; the filter and the "first N of M" note; a replica down
 * and an incomplete list; and, with credentials, deletes of a group and of a job through the
 * page's token field, refused without it, and recent refusals; with token-only credentials (no
 * anonymous read), the page's plain word that its reads were refused until a token is pasted.
 * Its timers run on Playwright's clock where a test needs time to pass: no refresh while the tab
 * is hidden or the reads are refused, proven over 30 s of page time without waiting them out.
 * It keeps a screenshot.
 */
import { mkdir, stat, readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatGroupingPath, makeGroupingKey } from '../../src/core/grouping-key.js';
import { removeTempDirs, requireBinary, waitFor } from '../helpers/processes.js';
import { startTokenFrontDoor } from '../helpers/token-front-door.js';
import { send, startFrontDoor, type FrontDoor } from './front-door.js';

type Labels = Record<string, string>;

const MARKUP_JOB = '<img src=x onerror=alert(1)>';
const MARKUP_VALUE = '/tmp/<b onmouseover=alert(2)>x</b>';
const SCREENSHOT = resolve('test-results/page.png');
/** Every wait in the browser is bounded by this (the page refreshes every 10 s on its own). */
const WAIT_MS = 30_000;

const canonicalOf = (labels: Labels): string => makeGroupingKey(new Map(Object.entries(labels))).canonical;
const pathOf = (labels: Labels): string => formatGroupingPath(makeGroupingKey(new Map(Object.entries(labels))));
const pairsOf = (labels: Labels): string[] =>
  Object.keys(labels)
    .filter((k) => k !== 'job')
    .sort()
    .map((k) => `${k}=${JSON.stringify(labels[k])}`);

async function push(door: FrontDoor, labels: Labels, body: string, headers: Record<string, string> = {}): Promise<number> {
  return (await send(door.url, { method: 'PUT', path: pathOf(labels), body, headers })).status;
}

/** Whether some replica of `door` holds the group. */
async function heldAnywhere(door: FrontDoor, labels: Labels): Promise<boolean> {
  const want = JSON.stringify(Object.fromEntries(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1))));
  const all = await Promise.all(door.backends.flat().map((b) => b.groups()));
  return all.some((groups) => groups.some((g) => JSON.stringify(g.labels) === want));
}

interface ShownGroup {
  job: string;
  shard: string;
  labels: string[];
  failed: boolean;
}

/** What this file reads of an element in the page (the project's TypeScript has no DOM library). */
interface PageElement {
  readonly textContent: string | null;
  readonly classList: { contains(name: string): boolean };
  getAttribute(name: string): string | null;
  querySelector(selector: string): PageElement | null;
  querySelectorAll(selector: string): Iterable<PageElement>;
}

const shownGroups = async (page: Page): Promise<ShownGroup[]> =>
  page.$$eval('#groups tbody tr.group', (rows: PageElement[]) =>
    rows.map((r) => ({
      job: r.querySelector('.job')?.textContent ?? '',
      shard: r.getAttribute('data-shard') ?? '',
      labels: [...r.querySelectorAll('.label')].map((l) => l.textContent ?? ''),
      failed: r.classList.contains('failed'),
    })),
  );

/** The row of one group on the page. */
const rowOf = (page: Page, labels: Labels) => {
  let row = page.locator('#groups tbody tr.group').filter({ has: page.locator('.job', { hasText: labels['job']! }) });
  for (const pair of pairsOf(labels)) row = row.filter({ has: page.locator('.label', { hasText: pair }) });
  return row;
};

const waitRows = async (page: Page, n: number): Promise<void> => {
  // Polled from here: the page's CSP (rightly) forbids evaluating a string in it.
  await expect.poll(async () => page.locator('#groups tbody tr.group').count(), { timeout: WAIT_MS, interval: 50 }).toBe(n);
};
const waitStatus = async (page: Page, text: string): Promise<void> => {
  await page.locator('#status', { hasText: text }).waitFor();
};

let browser: Browser;

beforeAll(async () => {
  browser = await chromium.launch({ executablePath: requireBinary('chromium'), args: ['--no-sandbox'] });
});
afterAll(async () => {
  await browser?.close();
  await removeTempDirs();
});

/** What a test wants in place before the page loads: Playwright's clock, request listeners. */
type BeforeLoad = (page: Page) => Promise<void> | void;

async function openPage(url: string, beforeLoad?: BeforeLoad): Promise<{ page: Page; dialogs: string[]; errors: string[] }> {
  const page = await browser.newPage();
  await beforeLoad?.(page);
  page.setDefaultTimeout(WAIT_MS);
  const dialogs: string[] = [];
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(`${message.text()} (${message.location().url})`);
  });
  page.on('dialog', (dialog) => {
    dialogs.push(`${dialog.type()}: ${dialog.message()}`);
    void dialog.accept();
  });
  await page.goto(url);
  await page.waitForSelector('body[data-refreshed]');
  return { page, dialogs, errors };
}

/** The page's reads of `paths` in the order the browser sent them, as `pathname?search`. */
function recordRequests(page: Page, paths: readonly string[]): string[] {
  const seen: string[] = [];
  page.on('request', (request) => {
    const url = new URL(request.url());
    if (paths.includes(url.pathname)) seen.push(url.pathname + url.search);
  });
  return seen;
}

/**
 * Fetches `-/healthy?mark=<name>` from inside the page: a marker among the page's requests, so
 * that what the page asked for before it is told apart from what it asked for after.
 */
async function mark(page: Page, name: string): Promise<void> {
  await page.evaluate(`fetch('-/healthy?mark=${name}').then((r) => r.status)`);
}

/**
 * Shows or hides the tab as the page sees it. Headless Chromium keeps every page visible, so the
 * property is set on the page's document and the event the browser would send is dispatched.
 */
async function setVisibility(page: Page, state: 'hidden' | 'visible'): Promise<void> {
  await page.evaluate(
    `Object.defineProperty(document, 'visibilityState', { value: '${state}', configurable: true }); document.dispatchEvent(new Event('visibilitychange'))`,
  );
}

/** The marked stretch of `seen` between `mark(page, from)` and `mark(page, to)`. */
function between(seen: readonly string[], from: string, to: string): string[] {
  const start = seen.indexOf(`/-/healthy?mark=${from}`);
  const end = seen.indexOf(`/-/healthy?mark=${to}`);
  expect(start, `marker ${from} seen`).toBeGreaterThanOrEqual(0);
  expect(end, `marker ${to} seen after ${from}`).toBeGreaterThan(start);
  return seen.slice(start + 1, end);
}

describe('the page at / (no credentials)', () => {
  let door: FrontDoor;
  const GROUPS: Labels[] = [
    { job: 'alpha', instance: 'a1' },
    { job: 'alpha', instance: 'a2' },
    { job: 'beta', instance: 'b1' },
    { job: 'gamma' },
    { job: 'delta', region: 'eu' },
    { job: 'epsilon', instance: 'e1' },
    { job: 'zeta', instance: 'z1' },
    { job: 'eta', instance: 'h1' },
    { job: 'flaky' },
    { job: MARKUP_JOB, path: MARKUP_VALUE },
  ];

  beforeAll(async () => {
    door = await startFrontDoor({ shards: 2, replicas: 2 });
    for (const labels of GROUPS) expect(await push(door, labels, `${labels['job'] === 'flaky' ? 'flaky_runs' : 'm'} 1\n`)).toBe(200);
    expect(await push(door, { job: 'flaky' }, 'flaky_runs 2 1000\n'), 'a sample with a time stamp is refused').toBe(400);
    const shards = new Set(GROUPS.map((g) => door.cluster.ownerOf(canonicalOf(g)).name));
    expect([...shards].sort(), 'the groups are spread over both shards').toEqual(['s0', 's1']);
  });
  afterAll(async () => {
    await door?.close();
  });

  it('is served as a page with a strict Content-Security-Policy', async () => {
    const res = await fetch(`${door.url}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(res.headers.get('content-security-policy')).not.toContain('unsafe-inline');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('cache-control')).toBe('no-cache');
    const html = await res.text();
    // Relative, so that the page works under a proxy's path prefix (docs/reading.md).
    expect(html).toContain('<script type="module" src="-/page/app.js">');
    expect(html, 'no root-relative URL').not.toMatch(/(?:href|src)="\//);
    for (const [path, type] of [
      ['/-/page/app.js', 'text/javascript; charset=utf-8'],
      ['/-/page/paths.js', 'text/javascript; charset=utf-8'],
      ['/-/page/style.css', 'text/css; charset=utf-8'],
    ] as const) {
      const asset = await fetch(door.url + path);
      expect(asset.status, path).toBe(200);
      expect(asset.headers.get('content-type'), path).toBe(type);
      expect(asset.headers.get('content-security-policy'), path).toContain("default-src 'self'");
    }
    expect((await fetch(`${door.url}/`, { method: 'HEAD' })).status).toBe(200);
  });

  it('shows every job and every shard, each group on its owner, the failed push marked and markup as text', async () => {
    const { page, dialogs, errors } = await openPage(`${door.url}/`);
    await waitRows(page, GROUPS.length);
    const shown = await shownGroups(page);
    const expected = GROUPS.map((g) => ({
      job: g['job']!,
      shard: door.cluster.ownerOf(canonicalOf(g)).name,
      labels: pairsOf(g),
      failed: g['job'] === 'flaky',
    }));
    const order = (a: ShownGroup, b: ShownGroup): number => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1);
    expect([...shown].sort(order)).toEqual([...expected].sort(order));
    // The markup is text: no element was made of it, no script ran.
    expect(await page.locator('#groups img').count()).toBe(0);
    expect(await page.locator('#groups b').count()).toBe(0);
    expect(shown.find((g) => g.job === MARKUP_JOB)?.labels).toEqual([`path=${JSON.stringify(MARKUP_VALUE)}`]);
    // Every replica of both shards, up.
    const replicas = await page.$$eval('#shards tbody tr', (rows: PageElement[]) =>
      rows.map((r) => `${r.getAttribute('data-shard')} ${r.getAttribute('data-up')}`),
    );
    expect(replicas.sort()).toEqual(['s0 true', 's0 true', 's1 true', 's1 true']);
    expect(await page.locator('#ring').textContent()).toContain('steady');
    expect(await page.locator('#list-note').textContent()).toBe(`${GROUPS.length} matching groups.`);
    // The failed push was refused here, and the page says so.
    await page.waitForSelector('#refusals tbody tr.refusal');
    expect(await page.locator('#refusals tbody tr.refusal').first().textContent()).toContain('/metrics/job/flaky');
    expect(await page.locator('#incomplete').isHidden()).toBe(true);

    await mkdir(resolve('test-results'), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    const png = await readFile(SCREENSHOT);
    expect(png.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])), 'a PNG').toBe(true);
    expect((await stat(SCREENSHOT)).size).toBeGreaterThan(20_000);
    console.log(`screenshot of the page: ${SCREENSHOT}`);

    expect(dialogs, 'no dialog opened').toEqual([]);
    expect(errors, 'no error in the console').toEqual([]);
    await page.close();
  });

  it('narrows the list to the jobs containing the filter text, and says when it shows the first N of M', async () => {
    const { page } = await openPage(`${door.url}/`);
    await page.fill('#filter', 'lph');
    await waitRows(page, 2);
    expect((await shownGroups(page)).map((g) => g.job)).toEqual(['alpha', 'alpha']);
    expect(await page.locator('#list-note').textContent()).toBe('2 matching groups.');
    await page.close();

    const limited = await openPage(`${door.url}/?limit=3`);
    await limited.page.locator('#groups tbody tr.group').first().waitFor();
    expect(await limited.page.locator('#groups tbody tr.group').count()).toBe(3);
    expect(await limited.page.locator('#list-note').textContent()).toBe(
      `Showing the first 3 of ${GROUPS.length} matching groups; narrow the filter to see others.`,
    );
    await limited.page.close();
  });

  it('shows a killed replica down on its own refresh, and an incomplete list naming a shard with none left', async () => {
    const { page } = await openPage(`${door.url}/`, async (p) => p.clock.install());
    const [first, second] = door.backends[1]!;
    await first!.kill();
    // No reload: the page's own timer refreshes it, its 10 s run on the page's clock until the
    // front door has seen the replica go.
    const down = page.locator(`#shards tbody tr[data-url="${first!.url}"][data-up="false"]`);
    await waitFor(
      async () => {
        await page.clock.runFor(10_000);
        return (await down.count()) > 0;
      },
      { what: `${first!.url} shown down`, timeoutMs: WAIT_MS, intervalMs: 100 },
    );
    expect(await page.locator(`#shards tbody tr[data-url="${second!.url}"]`).getAttribute('data-up')).toBe('true');
    await second!.kill();
    await page.reload();
    await page.waitForSelector('#incomplete:not([hidden])');
    expect(await page.locator('#incomplete').textContent()).toContain('s1');
    const shown = await shownGroups(page);
    expect(shown.length).toBeGreaterThan(0);
    expect(shown.every((g) => g.shard === 's0')).toBe(true);
    await page.close();
  }, 90_000);
});

describe('the page at / over time and filters', () => {
  let door: FrontDoor;
  const GROUPS: Labels[] = [
    { job: 'alpha', instance: 'a1' },
    { job: 'alpha', instance: 'a2' },
    { job: 'beta', instance: 'b1' },
  ];

  beforeAll(async () => {
    door = await startFrontDoor({ shards: 2, replicas: 2 });
    for (const labels of GROUPS) expect(await push(door, labels, 'm 1\n')).toBe(200);
  });
  afterAll(async () => {
    await door?.close();
  });

  it('reads nothing on its timer while the tab is hidden, and refreshes once when it shows again', async () => {
    let seen: string[] = [];
    const { page } = await openPage(`${door.url}/`, async (p) => {
      await p.clock.install();
      seen = recordRequests(p, ['/-/status', '/-/api/groups', '/-/api/refusals', '/-/healthy']);
    });
    await waitRows(page, GROUPS.length);
    const loaded = await page.locator('body').getAttribute('data-refreshed');
    await mark(page, 'shown');
    await page.clock.runFor(10_000);
    await mark(page, 'hiding');
    // That refresh done, so that the next one is the timer's, due while hidden.
    await expect.poll(async () => page.locator('body').getAttribute('data-refreshed'), { timeout: WAIT_MS }).not.toBe(loaded);
    expect(between(seen, 'shown', 'hiding').filter((r) => r.startsWith('/-/status')).length, 'the timer refreshes a visible tab').toBeGreaterThan(0);

    await setVisibility(page, 'hidden');
    await mark(page, 'hidden');
    await page.clock.runFor(30_000);
    await mark(page, 'back');
    await setVisibility(page, 'visible');
    await expect.poll(() => seen.slice(seen.indexOf('/-/healthy?mark=back')).filter((r) => r.startsWith('/-/api/groups')).length, { timeout: WAIT_MS }).toBe(1);
    await mark(page, 'end');
    // A refresh in flight when the tab hid may still have been asked for before the marker; none after it.
    expect(between(seen, 'hidden', 'back'), 'no read while hidden for 30 s').toEqual([]);
    const after = between(seen, 'back', 'end');
    expect(
      after.filter((r) => r.startsWith('/-/status')),
      'one refresh on showing again',
    ).toEqual(['/-/status']);
    await waitRows(page, GROUPS.length);
    await page.close();
  });

  it('titles the rows with the filter they answer, and says so when a new filter could not be read', async () => {
    const { page } = await openPage(`${door.url}/`);
    await waitRows(page, GROUPS.length);
    expect(await page.locator('#groups-title').textContent()).toBe('Groups (job *)');
    // The new filter's list is answered busy: the rows and their Delete buttons are still every job's.
    await page.route(
      (url) => url.pathname === '/-/api/groups' && url.searchParams.get('job') === '*lph*',
      (route) =>
        route.fulfill({
          status: 503,
          headers: { 'x-pushring-error': 'PUSHRING_READS_BUSY', 'content-type': 'application/json' },
          body: JSON.stringify({ error: 'too many reads under way: try again shortly' }),
        }),
    );
    await page.fill('#filter', 'lph');
    await page.locator('#error[data-kind="busy"]').waitFor();
    expect(await page.locator('#groups-title').textContent()).toBe('Groups (job *): still the list for job *, as the list for job *lph* could not be read');
    expect(await page.locator('#groups tbody tr.group').count()).toBe(GROUPS.length);

    await page.fill('#filter', 'alph');
    await waitRows(page, 2);
    await page.locator('#groups-title', { hasText: 'Groups (job *alph*)' }).waitFor();
    expect(await page.locator('#groups-title').textContent()).toBe('Groups (job *alph*)');
    expect(await page.locator('#error').isHidden()).toBe(true);
    await page.close();
  });
});

describe('the page at / with credentials', () => {
  const ADMIN = 'tok-admin-page-4b7e1c2a9d';
  const PUSHER = 'tok-pusher-page-7c3a0e5f1b';
  let door: FrontDoor;
  const SLASHED = { job: 'web', path: '/srv/a b/c' };
  const PLAIN = { job: 'web', instance: 'w2' };
  const JOB = [
    { job: 'cleanup', instance: 'c1' },
    { job: 'cleanup', instance: 'c2' },
    { job: 'cleanup', region: 'us' },
  ];
  const GLOBBY = { job: 'odd*job', instance: 'o1' };
  const admin = { authorization: `Bearer ${ADMIN}` };

  beforeAll(async () => {
    door = await startTokenFrontDoor({
      shards: 2,
      replicas: 2,
      credentials: [
        { name: 'ops', token: ADMIN, push: ['*'], delete: ['*'], admin: true },
        { name: 'ci', token: PUSHER, push: ['*'], delete: ['other-*'] },
      ],
      anonymous: { read: true },
    });
    for (const labels of [SLASHED, PLAIN, ...JOB, GLOBBY]) expect(await push(door, labels, 'm 1\n', admin)).toBe(200);
    for (const labels of [SLASHED, PLAIN, ...JOB, GLOBBY]) await waitFor(async () => heldAnywhere(door, labels), { what: `${JSON.stringify(labels)} stored` });
  });
  afterAll(async () => {
    await door?.close();
  });

  it('without a token, a delete shows the 401 and a token without the scope the 403, and nothing is deleted', async () => {
    const { page, dialogs } = await openPage(`${door.url}/`);
    await waitRows(page, 6);
    await rowOf(page, PLAIN).locator('button.delete-group').click();
    await waitStatus(page, 'Could not delete');
    expect(await page.locator('#status').textContent()).toContain('401');
    expect(dialogs.length).toBe(1);

    await page.fill('#token', PUSHER);
    await page.click('#token-form button[type=submit]');
    expect(await page.locator('#token').inputValue(), 'the field is emptied').toBe('');
    await rowOf(page, PLAIN).locator('button.delete-group').click();
    await waitStatus(page, '403');
    expect(await page.locator('#status').textContent()).toContain('may not delete groups of job "web"');
    await rowOf(page, JOB[0]!).locator('button.delete-job').click();
    await waitStatus(page, 'may not call administrative endpoints');
    expect(await page.locator('#status').textContent()).toContain('403');
    for (const labels of [PLAIN, ...JOB]) expect(await heldAnywhere(door, labels), JSON.stringify(labels)).toBe(true);
    // The refused deletes are among the recent refusals, under the credential that tried.
    await page.reload();
    await page.waitForSelector('#refusals tbody tr.refusal');
    const refusals = await page.locator('#refusals tbody').textContent();
    expect(refusals).toContain('DELETE /metrics/job/web/instance/w2');
    expect(refusals).toContain('ci');
    expect(refusals).not.toContain(PUSHER);
    await page.close();
  });

  it('deletes a group through the token field, the one with a / in a label value included', async () => {
    const { page, dialogs } = await openPage(`${door.url}/`);
    await page.fill('#token', ADMIN);
    await page.click('#token-form button[type=submit]');
    expect(await page.evaluate("sessionStorage.getItem('pushring.token')")).toBe(ADMIN);
    expect(page.url()).not.toContain(ADMIN);
    await waitRows(page, 6);
    for (const labels of [SLASHED, PLAIN]) {
      await rowOf(page, labels).locator('button.delete-group').click();
      await waitFor(async () => !(await heldAnywhere(door, labels)), { what: `${JSON.stringify(labels)} gone from every replica`, timeoutMs: WAIT_MS });
    }
    expect(dialogs.length).toBe(2);
    expect(dialogs[0]).toContain('confirm: Delete the group of job "web" with path="/srv/a b/c"');
    await waitRows(page, 4);
    for (const labels of JOB) expect(await heldAnywhere(door, labels)).toBe(true);
    await page.close();
  });

  it('deletes a job after showing the dry run count, and refuses a job name the admin path would read as a glob', async () => {
    const { page, dialogs } = await openPage(`${door.url}/`);
    await page.fill('#token', ADMIN);
    await page.click('#token-form button[type=submit]');
    await waitRows(page, 4);

    await rowOf(page, GLOBBY).locator('button.delete-job').click();
    await waitStatus(page, 'contains * or ?');
    expect(dialogs, 'no confirmation is asked for a refused bulk delete').toEqual([]);
    expect(await heldAnywhere(door, GLOBBY)).toBe(true);

    await rowOf(page, JOB[0]!).locator('button.delete-job').click();
    await waitStatus(page, 'Deleted 3 group(s)');
    expect(dialogs.length).toBe(1);
    expect(dialogs[0]).toContain('Delete all 3 group(s) of job "cleanup"?');
    expect(dialogs[0]).toContain('instance="c1"');
    for (const labels of JOB) await waitFor(async () => !(await heldAnywhere(door, labels)), { what: `${JSON.stringify(labels)} gone`, timeoutMs: WAIT_MS });
    expect(await heldAnywhere(door, GLOBBY), 'the job whose name is a glob stays').toBe(true);
    await page.close();
  });

  it('lists a refused push under recent refusals', async () => {
    expect(await push(door, { job: 'refused-here' }, 'm 2 1000\n', admin)).toBe(400);
    const { page } = await openPage(`${door.url}/`);
    await page.locator('#refusals tbody tr.refusal', { hasText: 'refused-here' }).first().waitFor();
    const first = await page.locator('#refusals tbody tr.refusal').first().textContent();
    expect(first).toContain('PUT /metrics/job/refused-here');
    expect(first).toContain('400');
    expect(await page.locator('#refusals-note').textContent()).toContain('this front door');
    await page.close();
  });
});

describe('the page at / with token-only credentials (anonymous read off)', () => {
  const TOKEN = 'tok-ops-only-page-2d9f6a1e4c';
  const GROUPS: Labels[] = [{ job: 'locked', instance: 'l1' }, { job: 'locked', instance: 'l2' }, { job: 'sealed' }];
  let door: FrontDoor;

  beforeAll(async () => {
    door = await startTokenFrontDoor({
      shards: 2,
      replicas: 2,
      credentials: [{ name: 'ops', token: TOKEN, push: ['*'], delete: ['*'], admin: true }],
      anonymous: { read: false },
    });
    for (const labels of GROUPS) expect(await push(door, labels, 'm 1\n', { authorization: `Bearer ${TOKEN}` })).toBe(200);
    for (const labels of GROUPS) await waitFor(async () => heldAnywhere(door, labels), { what: `${JSON.stringify(labels)} stored` });
  });
  afterAll(async () => {
    await door?.close();
  });

  it('loads, says plainly that its reads were refused, and shows the data once the token is pasted', async () => {
    expect((await fetch(`${door.url}/-/page/app.js`)).status, 'the page is open').toBe(200);
    expect((await fetch(`${door.url}/-/status`)).status, 'its data is not').toBe(401);

    // Every read from the first on, each with who sent it, in the order the browser sent them.
    const reads: string[] = [];
    const { page, dialogs } = await openPage(`${door.url}/`, async (p) => {
      await p.clock.install();
      p.on('request', (request) => {
        const path = new URL(request.url()).pathname;
        if (path === '/-/status' || path === '/-/api/groups') reads.push(`${path} ${request.headers()['authorization'] === undefined ? 'anonymous' : 'token'}`);
      });
    });
    const problem = page.locator('#error');
    await page.locator('#error[data-kind="refused"]').waitFor();
    const said = (await problem.textContent()) ?? '';
    expect(said).toContain('The front door refused to show its data (401');
    expect(said).toContain('paste a bearer token above, or sign in with basic credentials');
    expect(await problem.isVisible()).toBe(true);
    // The layout stands: every table keeps its headings, and says why it is empty.
    expect(await page.locator('#groups thead th').count()).toBe(7);
    expect(await page.locator('#shards thead th').count()).toBe(7);
    expect(await page.locator('#groups tbody tr.group').count()).toBe(0);
    expect(await page.locator('#groups tbody td.refused').textContent()).toContain('Not shown');
    expect(await page.locator('#token').isVisible()).toBe(true);
    expect(dialogs, 'no dialog opened').toEqual([]);
    // Paused while refused: 30 s of the page's time, three of its refresh periods, ask for nothing.
    await page.clock.runFor(30_000);

    await page.fill('#token', TOKEN);
    await page.click('#token-form button[type=submit]');
    await waitRows(page, GROUPS.length);
    expect(await page.locator('#error').isHidden()).toBe(true);
    expect((await shownGroups(page)).map((g) => g.job).sort()).toEqual(['locked', 'locked', 'sealed']);
    const replicas = await page.$$eval('#shards tbody tr', (rows: PageElement[]) => rows.map((r) => r.getAttribute('data-shard')));
    expect(replicas.sort()).toEqual(['s0', 's0', 's1', 's1']);
    // Paused while refused: the first load's reads, then only the ones the token field asked for
    // (a refresh the timer made in those 30 s would sit between them, anonymous).
    const firstToken = reads.findIndex((r) => r.endsWith(' token'));
    expect(firstToken, reads.join(',')).toBeGreaterThan(0);
    expect(reads.slice(0, firstToken).sort(), 'one anonymous read of each before the token').toEqual(['/-/api/groups anonymous', '/-/status anonymous']);
    expect(
      reads.slice(firstToken).every((r) => r.endsWith(' token')),
      reads.join(','),
    ).toBe(true);
    expect(page.url()).not.toContain(TOKEN);
    await page.close();
  });
});
