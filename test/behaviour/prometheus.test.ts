/**
 * End to end with a real Prometheus running the shipped config/prometheus.yml and rules: it
 * finds pushring's backends through the generated file_sd file, scrapes both replicas of each
 * shard, dedupes them with the recording rules, and alerts; and what it answers does not change
 * when the reconciler repairs a replica, when a group is held by two shards (a move), and it
 * alerts when its targets and the ring differ.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { createRing } from '../../src/core/ring.js';
import { writeFileAtomically } from '../../src/discovery/file-sd.js';
import { buildTargets, formatTargets } from '../../src/discovery/targets.js';
import { createReconciler } from '../../src/reconcile/reconciler.js';
import { createSuspectStore } from '../../src/reconcile/suspects.js';
import { validated } from '../helpers/config.js';
import { freePort, waitFor } from '../helpers/processes.js';
import { SHIPPED_TARGETS, shippedPrometheusConfig, startPrometheus, type PrometheusServer, type PromSample } from '../helpers/prometheus.js';
import { rawGroups, startPushgateway, type Pushgateway, type RawGroup } from '../helpers/pushgateway.js';
import { send, startFrontDoor, type FrontDoor } from './front-door.js';

const TARGETS = SHIPPED_TARGETS;
let door: FrontDoor;
let prometheus: PrometheusServer;
const extra: Pushgateway[] = [];

beforeAll(async () => {
  door = await startFrontDoor({ shards: 2 });
  const { yaml, files } = await shippedPrometheusConfig(door.url);
  files[TARGETS] = formatTargets(buildTargets(door.config));
  prometheus = await startPrometheus(yaml, files);
});
afterAll(async () => {
  await Promise.all([door?.close(), prometheus?.close(), ...extra.map((b) => b.close())]);
});

const push = (path: string, body: string) => send(door.url, { method: 'PUT', path, headers: { 'content-type': 'text/plain' }, body });

describe('Prometheus with pushring', () => {
  const shardOfNightly = (): string => createRing(door.config.shards).ownerOf('{job="nightly"}');

  it('scrapes a pushed value once per replica, with distinct replica labels, and the dedupe rule returns it once', async () => {
    expect((await push('/metrics/job/nightly', '# TYPE batch_duration_seconds gauge\nbatch_duration_seconds 11\n')).status).toBe(200);
    const perReplica = await waitFor(
      async () => {
        const result = await prometheus.query('batch_duration_seconds{job="nightly"}');
        return result.length === 2 ? result : undefined;
      },
      { what: 'Prometheus to scrape both replicas', timeoutMs: 30_000 },
    );
    expect(perReplica.map((s) => s.metric['replica']).sort()).toEqual(['0', '1']);
    expect(new Set(perReplica.map((s) => s.metric['shard']))).toEqual(new Set([shardOfNightly()]));
    expect(perReplica.every((s) => s.value[1] === '11' && s.metric['instance'] === undefined)).toBe(true);
    const deduped = await waitFor(
      async () => {
        const result = await prometheus.query('pushring:batch_duration_seconds:max{job="nightly"}');
        return result.length > 0 ? result : undefined;
      },
      { what: 'the dedupe recording rule to be evaluated', timeoutMs: 30_000 },
    );
    expect(deduped).toHaveLength(1);
    expect(deduped[0]!.value[1]).toBe('11');
  });

  it('fires the batch_duration_seconds > 10 alert for a job that pushed 11 through pushring', async () => {
    const alerts = await waitFor(
      async () => {
        const { alerts } = await prometheus.api<{ alerts: Array<{ labels: Record<string, string>; state: string }> }>('alerts');
        const mine = alerts.filter((a) => a.labels['alertname'] === 'BatchJobTooSlow' && a.labels['job'] === 'nightly' && a.state === 'firing');
        return mine.length > 0 ? mine : undefined;
      },
      { what: 'BatchJobTooSlow to fire for job nightly', timeoutMs: 30_000 },
    );
    // Deduped: one alert, not one per replica.
    expect(alerts).toHaveLength(1);
  });

  it('shows a killed replica as up 0 while the deduped series stays present', async () => {
    const shard = shardOfNightly();
    const s = door.config.shards.findIndex((x) => x.name === shard);
    void door.backends[s]![0]!.kill();
    await waitFor(async () => (await prometheus.query(`up{job="pushgateway",shard="${shard}",replica="0"}`))[0]?.value[1] === '0', {
      what: `up of shard ${shard} replica 0 to go to 0`,
      timeoutMs: 30_000,
    });
    const deduped = await prometheus.query('pushring:batch_duration_seconds:max{job="nightly"}');
    expect(deduped.map((x) => x.value[1])).toEqual(['11']);
    expect((await prometheus.query(`up{job="pushgateway",shard="${shard}",replica="1"}`))[0]?.value[1]).toBe('1');
  });

  it('picks up a new shard when the ring grows and the targets file is rewritten', async () => {
    extra.push(await startPushgateway(), await startPushgateway());
    const grown = validated({ shards: [...door.config.shards, { name: 's2', replicas: extra.map((b) => b.url) }] });
    expect(await writeFileAtomically(join(prometheus.dir, TARGETS), formatTargets(buildTargets(grown)))).toBe(true);
    const active = await waitFor(
      async () => {
        const { activeTargets } = await prometheus.api<{ activeTargets: Array<{ labels: Record<string, string>; health: string }> }>('targets?state=active');
        const s2 = activeTargets.filter((t) => t.labels['shard'] === 's2' && t.health === 'up');
        return s2.length === 2 ? activeTargets : undefined;
      },
      { what: 'Prometheus to scrape the new shard s2', timeoutMs: 30_000 },
    );
    expect(active.filter((t) => t.labels['job'] === 'pushgateway')).toHaveLength(6);
  });

  it('serves the same targets over http_sd as in the file', async () => {
    const res = await fetch(`${door.url}/-/sd/targets`);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await res.text()).toBe(formatTargets(buildTargets(door.config)));
  });
});

describe('grouping labels that would hide the target labels', () => {
  it('refuses a push whose grouping key uses the replica or shard label', async () => {
    for (const label of ['replica', 'shard']) {
      const res = await push(`/metrics/job/x/${label}/1`, 'm 1\n');
      expect(res.status).toBe(400);
      expect(res.body).toContain(`the grouping label "${label}" is reserved`);
    }
  });
});

/** The shipped rules: recording rule names, and each alert's expression by name. */
async function shippedRules(): Promise<{ records: string[]; alerts: Map<string, string> }> {
  const records: string[] = [];
  const alerts = new Map<string, string>();
  for (const file of ['config/rules/pushring-recording.yml', 'config/rules/pushring-alerts.yml']) {
    const { groups } = parse(await readFile(file, 'utf8')) as { groups: Array<{ rules: Array<{ record?: string; alert?: string; expr: string }> }> };
    for (const rule of groups.flatMap((g) => g.rules)) {
      if (rule.record !== undefined) records.push(rule.record);
      if (rule.alert !== undefined) alerts.set(rule.alert, rule.expr);
    }
  }
  return { records, alerts };
}

/** Waits until every rule group has been evaluated after this moment: it sees what was scraped before. */
async function waitForEvaluation(prometheus: PrometheusServer): Promise<void> {
  // Recording rules first, then the alerts that read them (the groups run independently).
  for (const name of ['pushring-dedupe', 'pushring-alerts']) {
    const since = Date.now();
    await waitFor(
      async () => {
        const { groups } = await prometheus.api<{ groups: Array<{ name: string; lastEvaluation: string }> }>('rules');
        const group = groups.find((g) => g.name === name);
        return group !== undefined && Date.parse(group.lastEvaluation) > since;
      },
      { what: `rule group ${name} to be evaluated again`, timeoutMs: 30_000 },
    );
  }
}

const labelsOf = (s: PromSample): string => {
  const { __name__: name, ...labels } = s.metric;
  return `${name ?? ''}${JSON.stringify(Object.fromEntries(Object.entries(labels).sort()))}`;
};

describe('what Prometheus answers across repairs, moves and discovery', () => {
  let door: FrontDoor;
  let prometheus: PrometheusServer;
  let rules: Awaited<ReturnType<typeof shippedRules>>;
  const suspects = createSuspectStore();
  beforeAll(async () => {
    rules = await shippedRules();
    door = await startFrontDoor({ shards: 2, suspects, config: { write: { timeoutMs: 5_000 }, health: { intervalMs: 200, timeoutMs: 2_000 } } });
    const { yaml, files } = await shippedPrometheusConfig(door.url);
    files[TARGETS] = formatTargets(buildTargets(door.config));
    prometheus = await startPrometheus(yaml, files);
  });
  afterAll(async () => {
    await Promise.all([door?.close(), prometheus?.close()]);
  });

  const pushTo = (method: 'PUT' | 'POST', path: string, body: string) => send(door.url, { method, path, headers: { 'content-type': 'text/plain' }, body });

  /** Every recorded series of `job` and every alert about it, active or not, with its value. */
  async function answersFor(job: string): Promise<Record<string, string>> {
    const answers: Record<string, string> = {};
    for (const record of rules.records) for (const s of await prometheus.query(`${record}{job="${job}"}`)) answers[labelsOf(s)] = s.value[1];
    const { alerts } = await prometheus.api<{ alerts: Array<{ labels: Record<string, string>; state: string }> }>('alerts');
    for (const a of alerts.filter((x) => x.labels['job'] === job))
      answers[`ALERT ${JSON.stringify(Object.fromEntries(Object.entries(a.labels).sort()))}`] = a.state;
    return answers;
  }

  it('counts a group held by two shards, as during a move, as one series with no shard label', async () => {
    // A ring change copies the group to its new shard before deleting it from the old one.
    for (const replicas of door.backends) {
      for (const b of replicas) {
        const res = await fetch(`${b.url}/metrics/job/moving`, { method: 'PUT', body: '# TYPE batch_duration_seconds gauge\nbatch_duration_seconds 12\n' });
        expect(res.status).toBe(200);
      }
    }
    await waitFor(
      async () =>
        new Set((await prometheus.query('batch_duration_seconds{job="moving"}')).map((s) => `${s.metric['shard']}/${s.metric['replica']}`)).size === 4,
      { what: 'Prometheus to scrape the group on both replicas of both shards', timeoutMs: 30_000 },
    );
    await waitForEvaluation(prometheus);
    const answers = await answersFor('moving');
    expect(Object.keys(answers).sort()).toEqual([
      'ALERT {"alertname":"BatchJobTooSlow","job":"moving","severity":"warning"}',
      'pushring:batch_duration_seconds:max{"job":"moving"}',
      'pushring:last_push_failed{"job":"moving"}',
      'pushring:push_failure_time_seconds:min{"job":"moving"}',
      'pushring:push_time_seconds:min{"job":"moving"}',
    ]);
    expect(answers['pushring:batch_duration_seconds:max{"job":"moving"}']).toBe('12');
    for (const replicas of door.backends) for (const b of replicas) await (await fetch(`${b.url}/metrics/job/moving`, { method: 'DELETE' })).body?.cancel();
  });

  it('keeps a failed last push failed through a repair: every rule and alert answers as before the restart', async () => {
    const job = 'failing';
    const shard = door.config.shards.findIndex((x) => x.name === createRing(door.config.shards).ownerOf(`{job="${job}"}`));
    const [original, restarted] = door.backends[shard]!;
    expect((await pushTo('PUT', `/metrics/job/${job}`, '# TYPE batch_duration_seconds gauge\nbatch_duration_seconds 3\n')).status).toBe(200);
    // A sample with a timestamp: both Pushgateways refuse the push and record its failure.
    expect((await pushTo('POST', `/metrics/job/${job}`, 'batch_duration_seconds 4 1000\n')).status).toBe(400);
    const failedOn = (s: PromSample[]) => new Set(s.map((x) => x.metric['replica']));
    const failedQuery = `push_failure_time_seconds{job="${job}"} > push_time_seconds{job="${job}"}`;
    await waitFor(async () => failedOn(await prometheus.query(failedQuery)).size === 2, {
      what: 'Prometheus to scrape the refusal on both replicas',
      timeoutMs: 30_000,
    });
    await waitForEvaluation(prometheus);
    const before = await answersFor(job);
    expect(before[`pushring:last_push_failed{"job":"${job}"}`]).toBe('1');
    expect(before[`ALERT {"alertname":"BatchJobPushFailed","job":"${job}","severity":"warning"}`]).toBe('firing');

    const valueOn = async (metric: string, replica: string) => (await prometheus.query(`${metric}{job="${job}", replica="${replica}"}`))[0]?.value[1] ?? 'NaN';
    const pushTimeOn = async (replica: string) => Number(await valueOn('push_time_seconds', replica));
    const beforeRestart = await pushTimeOn('1');
    // Each replica stamps the push (and the refusal) itself, microseconds apart; the restarted
    // one's stamps go, the original's stay, and the copy's are newer than both.
    const kept = { push: await valueOn('push_time_seconds', '0'), failure: await valueOn('push_failure_time_seconds', '0') };
    const reconciler = createReconciler({ cluster: door.cluster, config: door.config.reconcile, suspects });
    await reconciler.pass(); // learns each replica's start time
    await restarted!.restart(); // empty
    const isFailingGroup = (g: RawGroup) => (g['labels'] as Record<string, string>)['job'] === job;
    await waitFor(
      async () => {
        await reconciler.pass();
        return (await rawGroups(restarted!.url)).find(isFailingGroup)?.['last_push_successful'] === false;
      },
      { what: 'the reconciler to refill the restarted replica with the failed group', timeoutMs: 30_000 },
    );
    // Prometheus has scraped the copy (stamped after the restart) in its failed state.
    await waitFor(async () => (await pushTimeOn('1')) > beforeRestart && failedOn(await prometheus.query(failedQuery)).has('1'), {
      what: 'Prometheus to scrape the repaired copy, failed',
      timeoutMs: 30_000,
    });
    await waitForEvaluation(prometheus);
    expect(await answersFor(job)).toEqual({
      ...before,
      [`pushring:push_time_seconds:min{"job":"${job}"}`]: kept.push,
      [`pushring:push_failure_time_seconds:min{"job":"${job}"}`]: kept.failure,
    });

    // The replicas agree: the next pass finds nothing to do.
    const [a, b] = await Promise.all([original!, restarted!].map(async (r) => (await rawGroups(r.url)).find(isFailingGroup)));
    expect([a?.['last_push_successful'], b?.['last_push_successful']]).toEqual([false, false]);
    const report = await waitFor(
      async () => {
        const r = await reconciler.pass();
        return r.outOfSync === 0 ? r : undefined;
      },
      { what: 'a pass that finds the shard in sync', timeoutMs: 30_000 },
    );
    expect([report.actions, report.deferred, report.copied]).toEqual([[], 0, 0]);
  });

  it('alerts when Prometheus scrapes other Pushgateways than the ring holds, in either direction', async () => {
    const drift = rules.alerts.get('PushringDiscoveryDrift');
    expect(drift, 'the shipped alert PushringDiscoveryDrift').toBeDefined();
    const differences = async () => (await prometheus.query(drift!)).map((s) => `${s.metric['drift']} ${s.metric['shard']}/${s.metric['replica']}`).sort();
    const scraped = async () => (await prometheus.query('up{job="pushgateway"}')).map((s) => `${s.metric['shard']}/${s.metric['replica']}`).sort();
    const ring = door.config.shards.flatMap((s) => s.replicas.map((_, i) => `${s.name}/${i}`)).sort();
    const complete = formatTargets(buildTargets(door.config));
    const targetsFile = join(prometheus.dir, TARGETS);

    // Complete: both sides known, no difference.
    await waitFor(
      async () => {
        const inRing = (await prometheus.query('pushring_ring_backend')).map((s) => `${s.metric['shard']}/${s.metric['replica']}`).sort();
        return (
          JSON.stringify(inRing) === JSON.stringify(ring) && JSON.stringify(await scraped()) === JSON.stringify(ring) && (await differences()).length === 0
        );
      },
      { what: "Prometheus to scrape the front door's ring and every backend of it", timeoutMs: 30_000 },
    );

    // A targets file missing a shard (as one written once, before the ring grew).
    const [kept, missing] = door.config.shards;
    expect(await writeFileAtomically(targetsFile, formatTargets(buildTargets({ ...door.config, shards: [kept!] })))).toBe(true);
    const unscraped = missing!.replicas.map((_, i) => `not_scraped ${missing!.name}/${i}`);
    await waitFor(async () => JSON.stringify(await differences()) === JSON.stringify(unscraped), {
      what: `the replicas of ${missing!.name} to show as not scraped, and nothing else`,
      timeoutMs: 30_000,
    });

    // A target outside the ring (a replica since removed from it): scraped, down, still a target.
    const stray = `http://127.0.0.1:${await freePort()}`;
    const withStray = { ...door.config, shards: [...door.config.shards, { ...kept!, name: 'gone', replicas: [stray] }] };
    expect(await writeFileAtomically(targetsFile, formatTargets(buildTargets(withStray)))).toBe(true);
    await waitFor(async () => JSON.stringify(await differences()) === JSON.stringify(['not_in_ring gone/0']), {
      what: 'the stray target to show as not in the ring, and nothing else',
      timeoutMs: 30_000,
    });

    expect(await writeFileAtomically(targetsFile, complete)).toBe(true);
    await waitFor(async () => JSON.stringify(await scraped()) === JSON.stringify(ring) && (await differences()).length === 0, {
      what: 'no drift once the targets file is complete again',
      timeoutMs: 30_000,
    });
  });
});
