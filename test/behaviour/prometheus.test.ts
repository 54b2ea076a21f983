/**
 * End to end with a real Prometheus running the shipped config/prometheus.yml and rules: it
 * finds pushring's backends through the generated file_sd file, scrapes both replicas of each
 * shard, dedupes them with the recording rules, and alerts.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { createRing } from '../../src/core/ring.js';
import { writeFileAtomically } from '../../src/discovery/file-sd.js';
import { buildTargets, formatTargets } from '../../src/discovery/targets.js';
import { validated } from '../helpers/config.js';
import { waitFor } from '../helpers/processes.js';
import { startPrometheus, type PrometheusServer } from '../helpers/prometheus.js';
import { startPushgateway, type Pushgateway } from '../helpers/pushgateway.js';
import { send, startFrontDoor, type FrontDoor } from './front-door.js';

const TARGETS = 'targets/pushring-targets.json';
let door: FrontDoor;
let prometheus: PrometheusServer;
const extra: Pushgateway[] = [];

/** The shipped configuration, with test intervals and this run's front door address. */
async function testPrometheusConfig(frontDoorUrl: string): Promise<{ yaml: string; files: Record<string, string> }> {
  const config = parse(await readFile('config/prometheus.yml', 'utf8')) as {
    global: Record<string, string>;
    rule_files: string[];
    scrape_configs: Array<{ job_name: string; file_sd_configs?: Array<{ files: string[]; refresh_interval?: string }>; static_configs?: Array<{ targets: string[] }> }>;
  };
  config.global = { ...config.global, scrape_interval: '1s', evaluation_interval: '1s' };
  for (const job of config.scrape_configs) {
    for (const sd of job.file_sd_configs ?? []) {
      expect(sd.files).toEqual([TARGETS]);
      sd.refresh_interval = '1s';
    }
    if (job.job_name === 'pushring') job.static_configs = [{ targets: [new URL(frontDoorUrl).host] }];
  }
  const files: Record<string, string> = {};
  for (const rules of config.rule_files) files[rules] = await readFile(join('config', rules), 'utf8');
  return { yaml: stringify(config), files };
}

beforeAll(async () => {
  door = await startFrontDoor({ shards: 2 });
  const { yaml, files } = await testPrometheusConfig(door.url);
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
    door.backends[s]![0]!.kill();
    await waitFor(
      async () => (await prometheus.query(`up{job="pushgateway",shard="${shard}",replica="0"}`))[0]?.value[1] === '0',
      { what: `up of shard ${shard} replica 0 to go to 0`, timeoutMs: 30_000 },
    );
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
