/**
 * The shipped Grafana dashboard (config/grafana/dashboards/pushring.json) against a real
 * Prometheus fed through pushring: 2 shards x 2 real Pushgateways behind a front door with its
 * reconciler, scraped with the shipped config/prometheus.yml and rules. After batch jobs push
 * durations over and under the 10 s threshold, one push fails, one is rate-limited, one is
 * refused by auth, and a replica restarted empty is refilled from its twin by the reconciler,
 * every query of every panel is valid PromQL (Prometheus answers success, instant and range) and
 * every one is non-empty, one series per group (deduplicated).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTargets, formatTargets } from '../../src/discovery/targets.js';
import { removeTempDir, tempDir, waitFor } from '../helpers/processes.js';
import { SHIPPED_TARGETS, shippedPrometheusConfig, startPrometheus, type PrometheusServer, type PromSample } from '../helpers/prometheus.js';
import { send, startFrontDoor, type FrontDoor } from './front-door.js';

const TARGETS = SHIPPED_TARGETS;
const TOKEN = 'grafana-test-token-0123456789';

interface Target {
  refId: string;
  expr: string;
}
interface Panel {
  title: string;
  targets: Target[];
  fieldConfig?: { defaults?: { thresholds?: { steps: Array<{ value: number | null }> } } };
}
interface Dashboard {
  panels: Panel[];
  templating: { list: Array<{ name: string; query: { query: string } | string; allValue?: string }> };
}

/**
 * Which queries the test's pushes (and the reconciler's passes) must fill, by panel title and
 * refId. Every panel of the dashboard is listed, so a new panel must say here what it shows.
 */
const MUST_FILL: Record<string, string[]> = {
  'Batch job duration vs the 10 s threshold': ['A'],
  'Groups over 10 s': ['A'],
  'Last push age per group': ['A'],
  'Failed last pushes': ['A', 'B'],
  'Pushes/s by result': ['A'],
  'Rate-limited pushes/s': ['A'],
  'Replicas up per shard': ['A', 'B'],
  'Auth refusals/s': ['A'],
  Repairs: ['A', 'B', 'C', 'D'],
  'Ring change progress': ['A', 'B', 'C', 'D'],
};

/** Grafana's variables as the dashboard's defaults expand them ($job: All). */
function expand(expr: string, allJobs: string): string {
  const expanded = expr.replaceAll('$__rate_interval', '1m').replaceAll('$job', allJobs);
  expect(expanded, `a Grafana variable the test does not expand in ${expr}`).not.toMatch(/\$/);
  return expanded;
}

let dir: string;
let door: FrontDoor;
let prometheus: PrometheusServer;
let dashboard: Dashboard;
let metricsPath: string;

beforeAll(async () => {
  dashboard = JSON.parse(await readFile('config/grafana/dashboards/pushring.json', 'utf8')) as Dashboard;
  dir = await tempDir('pushring-grafana-');
  await writeFile(join(dir, 'batch.token'), `${TOKEN}\n`);
  door = await startFrontDoor({
    shards: 2,
    replicas: 2,
    // The reconciler's passes feed the self-metrics Prometheus scrapes, as the runtime's loop does.
    reconcile: true,
    config: {
      limits: { rules: [{ name: 'limited', jobs: 'limited-*', pushes: 1, windowSeconds: 600 }] },
      auth: { credentials: [{ name: 'batch', token: { file: join(dir, 'batch.token') }, push: ['*'] }], anonymous: { push: ['*'] } },
    },
  });

  // The shipped configuration, with test intervals and this run's front door; its
  // metrics_path (if any) is kept, so the test follows where the self-metrics are served.
  const shipped = await shippedPrometheusConfig(door.url);
  metricsPath = shipped.metricsPath;
  prometheus = await startPrometheus(shipped.yaml, { ...shipped.files, [TARGETS]: formatTargets(buildTargets(door.config)) });
});
afterAll(async () => {
  await Promise.all([door?.close(), prometheus?.close()]);
  if (dir !== undefined) await removeTempDir(dir);
});

const push = (method: 'PUT' | 'POST', job: string, body: string, headers: Record<string, string> = {}) =>
  send(door.url, { method, path: `/metrics/job/${job}`, headers: { 'content-type': 'text/plain', ...headers }, body });
const gauge = (value: string) => `# TYPE batch_duration_seconds gauge\nbatch_duration_seconds ${value}\n`;

/** Every query of the dashboard: panel, refId, PromQL with the defaults expanded. */
function queries(): Array<{ panel: string; refId: string; expr: string }> {
  const job = dashboard.templating.list.find((v) => v.name === 'job');
  expect(job?.allValue, 'the job variable has an "All" value').toBeDefined();
  return dashboard.panels.flatMap((p) => p.targets.map((t) => ({ panel: p.title, refId: t.refId, expr: expand(t.expr, job!.allValue!) })));
}

describe('the shipped Grafana dashboard on a Prometheus fed through pushring', () => {
  it('lists every panel in the test table of what must be filled, and draws the 10 s threshold', () => {
    expect(dashboard.panels.map((p) => p.title).sort()).toEqual(Object.keys(MUST_FILL).sort());
    for (const panel of dashboard.panels)
      for (const refId of MUST_FILL[panel.title]!)
        expect(
          panel.targets.map((t) => t.refId),
          panel.title,
        ).toContain(refId);
    const durations = dashboard.panels.find((p) => p.title === 'Batch job duration vs the 10 s threshold')!;
    expect(durations.fieldConfig?.defaults?.thresholds?.steps.map((s) => s.value)).toContain(10);
  });

  it('answers every panel query with success, and fills those the pushes should, one series per group', async () => {
    expect((await push('PUT', 'nightly-backup', gauge('12'))).status).toBe(200);
    expect((await push('PUT', 'hourly-report', gauge('3'))).status).toBe(200);
    expect((await push('PUT', 'flaky-export', gauge('5'))).status).toBe(200);
    // A sample with a timestamp: the Pushgateways refuse it and record the failure.
    expect((await push('POST', 'flaky-export', 'batch_duration_seconds 6 1000\n')).status).toBe(400);
    expect((await push('PUT', 'limited-job', gauge('1'))).status).toBe(200);
    expect((await push('PUT', 'limited-job', gauge('1'))).status).toBe(429);
    expect((await push('PUT', 'refused-job', gauge('1'), { authorization: 'Bearer not-the-token' })).status).toBe(401);
    expect((await push('PUT', 'authorised-job', gauge('2'), { authorization: `Bearer ${TOKEN}` })).status).toBe(200);

    // A repair: a replica restarted with empty memory is refilled from its twin. The shard is one
    // without flaky-export, whose failed push a copy would not carry. A first pass records every
    // replica's start_time and creates the reconciler's series; Prometheus scrapes them at 0
    // before the repair, so that their increase shows it.
    const reconcile = door.reconcile!;
    await reconcile.pass();
    await waitFor(async () => (await prometheus.query('pushring_reconcile_actions_total{action="copied"}')).length > 0, {
      what: 'Prometheus to scrape the reconciler series before the repair',
      timeoutMs: 30_000,
      intervalMs: 250,
    });
    const holdsFlaky = async (s: number) => (await door.backends[s]![0]!.groups()).some((g) => g.labels['job'] === 'flaky-export');
    const shard = (await holdsFlaky(0)) ? 1 : 0;
    const [twin, restarted] = door.backends[shard]!;
    const held = (await twin!.groups()).length;
    expect(held, `shard s${shard} holds groups to repair`).toBeGreaterThan(0);
    await restarted!.restart();
    expect(await restarted!.groups(), 'a replica restarted without persistence is empty').toEqual([]);
    let copied = 0;
    await waitFor(
      async () => {
        copied += (await reconcile.pass()).copied;
        return copied > 0 && (await restarted!.groups()).length === held;
      },
      { what: `the reconciler to refill s${shard}'s restarted replica from its twin`, timeoutMs: 30_000, intervalMs: 100 },
    );

    // Prometheus scrapes the self-metrics where the shipped config says they are.
    const self = await fetch(door.url + metricsPath);
    expect(self.status, `GET ${metricsPath} on the front door`).toBe(200);
    expect(await self.text()).toContain('pushring_pushes_total');

    const all = queries();
    // Valid PromQL first, once: a syntax error fails here with Prometheus' own message.
    for (const q of all) {
      await prometheus.query(q.expr).catch((error: unknown) => {
        throw new Error(`panel "${q.panel}" query ${q.refId} is not valid PromQL: ${q.expr}`, { cause: error });
      });
    }
    const answers = new Map<string, PromSample[]>();
    let empty: string[] = [];
    try {
      await waitFor(
        async () => {
          empty = [];
          for (const q of all) {
            const result = await prometheus.query(q.expr);
            answers.set(`${q.panel} ${q.refId}`, result);
            if (MUST_FILL[q.panel]!.includes(q.refId) && result.length === 0) empty.push(`${q.panel} ${q.refId}: ${q.expr}`);
          }
          // Non-empty is not enough: every backend scraped (and the rules evaluated since) before
          // the answers are compared below, or a shard may show one replica of two.
          const up = answers.get('Replicas up per shard A') ?? [];
          if (up.length !== 2 || up.some((s) => s.value[1] !== '2')) empty.push('Replicas up per shard A: not every replica scraped yet');
          if ((answers.get('Batch job duration vs the 10 s threshold A') ?? []).length !== 5) empty.push('Batch job duration A: not every group recorded yet');
          const copiedNow = (answers.get('Repairs A') ?? []).find((s) => s.metric['action'] === 'copied');
          if (copiedNow === undefined || !(Number(copiedNow.value[1]) > 0)) empty.push('Repairs A: the repair not counted yet');
          return empty.length === 0;
        },
        { what: 'every panel query that the pushes fill to answer non-empty', timeoutMs: 60_000, intervalMs: 500 },
      );
    } catch (error) {
      throw new Error(`still empty:\n${empty.join('\n')}`, { cause: error });
    }

    // Range queries, as Grafana's time series panels send them, are valid too.
    const end = Math.floor(Date.now() / 1000);
    for (const q of all) await prometheus.api(`query_range?query=${encodeURIComponent(q.expr)}&start=${end - 120}&end=${end}&step=5`);

    const byJob = (key: string) =>
      answers
        .get(key)!
        .map((s) => s.metric['job'])
        .sort();
    const durations = answers.get('Batch job duration vs the 10 s threshold A')!;
    // Deduplicated: one series per group, without the replica and shard target labels.
    expect(durations.map((s) => s.metric['job']).sort()).toEqual(['authorised-job', 'flaky-export', 'hourly-report', 'limited-job', 'nightly-backup']);
    expect(durations.every((s) => s.metric['replica'] === undefined && s.metric['shard'] === undefined)).toBe(true);
    expect(durations.find((s) => s.metric['job'] === 'nightly-backup')?.value[1]).toBe('12');
    expect(byJob('Groups over 10 s A')).toEqual(['nightly-backup']);
    expect(byJob('Last push age per group A')).toEqual(byJob('Batch job duration vs the 10 s threshold A'));
    expect(byJob('Failed last pushes A')).toEqual(['flaky-export']);
    expect(byJob('Failed last pushes B')).toEqual(['flaky-export']);
    expect(answers.get('Rate-limited pushes/s A')!.map((s) => s.metric['rule'])).toEqual(['limited']);
    expect(answers.get('Auth refusals/s A')!.map((s) => `${s.metric['credential']} ${s.metric['reason']}`)).toEqual(['unknown unauthenticated']);
    expect(
      answers
        .get('Replicas up per shard A')!
        .map((s) => `${s.metric['shard']} ${s.value[1]}`)
        .sort(),
    ).toEqual(['s0 2', 's1 2']);
    // The repair, and the reconciler's phase: no ring change under way.
    expect(Number(answers.get('Repairs A')!.find((s) => s.metric['action'] === 'copied')?.value[1])).toBeGreaterThan(0);
    expect(answers.get('Ring change progress C')!.map((s) => s.metric['phase'])).toEqual(['none']);
    expect(answers.get('Ring change progress A')!.map((s) => s.value[1])).toEqual(['0']);
    const codes = new Set(answers.get('Pushes/s by result A')!.map((s) => `${s.metric['method']} ${s.metric['code']}`));
    for (const code of ['put 200', 'post 400', 'put 429', 'put 401'])
      expect(
        [...codes].map((c) => c.toLowerCase()),
        code,
      ).toContain(code);
  }, 90_000);

  it('offers every pushed job in the job variable', async () => {
    const variable = dashboard.templating.list.find((v) => v.name === 'job')!;
    const query = typeof variable.query === 'string' ? variable.query : variable.query.query;
    const match = /^label_values\((.+), job\)$/.exec(query);
    expect(match, query).not.toBeNull();
    const jobs = await prometheus.api<string[]>(`label/job/values?match[]=${encodeURIComponent(match![1]!)}`);
    expect(jobs).toEqual(expect.arrayContaining(['nightly-backup', 'hourly-report', 'flaky-export']));
  });
});
