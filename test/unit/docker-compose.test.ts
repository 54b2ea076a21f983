/**
 * docker-compose.yml cannot run here (no Docker engine): check that it is whole instead.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseConfig } from '../../src/config/load.js';
import { requireBinary } from '../helpers/processes.js';

interface Service {
  image?: string;
  environment?: Record<string, string>;
  build?: string;
  volumes?: string[];
  depends_on?: string[];
  ports?: string[];
}
const compose = parse(readFileSync('docker-compose.yml', 'utf8'), { merge: true }) as { services: Record<string, Service>; volumes?: Record<string, unknown> };
const services = compose.services;
const names = Object.keys(services);
const mounts = (service: Service) =>
  (service.volumes ?? []).map((v) => {
    const [source, target] = v.split(':') as [string, string];
    return { source, target };
  });

describe('docker-compose.yml', () => {
  it('defines the whole stack', () => {
    expect(names.sort()).toEqual([
      'grafana',
      'lb',
      'prometheus',
      'pushgateway-a0',
      'pushgateway-a1',
      'pushgateway-b0',
      'pushgateway-b1',
      'pushring-1',
      'pushring-2',
      'redis',
    ]);
    expect(services['lb']!.ports).toEqual(['9191:9191']);
  });

  it('mounts only files that exist and volumes that are declared', () => {
    for (const [name, service] of Object.entries(services)) {
      for (const { source } of mounts(service)) {
        if (source.startsWith('./')) expect(existsSync(source), `${name} mounts ${source}`).toBe(true);
        else expect(Object.keys(compose.volumes ?? {}), `${name} mounts volume ${source}`).toContain(source);
      }
      for (const dependency of service.depends_on ?? []) expect(names, `${name} depends on ${dependency}`).toContain(dependency);
      if (service.build !== undefined) expect(existsSync(`${service.build}/Dockerfile`)).toBe(true);
    }
  });

  it('builds an image from files that exist', () => {
    const dockerfile = readFileSync('Dockerfile', 'utf8');
    for (const match of dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)) {
      for (const source of match[1]!.split(' ')) expect(existsSync(source), `Dockerfile copies ${source}`).toBe(true);
    }
  });

  it('puts in the image what the front door reads at start: its build, its bin and the page', () => {
    const dockerfile = readFileSync('Dockerfile', 'utf8');
    const runtime = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
    for (const dir of ['dist', 'bin', 'static'])
      expect(runtime, `the runtime stage has ${dir}/`).toMatch(new RegExp(`^COPY (--from=build /app/)?${dir} \\./${dir}$`, 'm'));
  });

  it('gives the front doors a valid configuration whose every host is a service', () => {
    const result = parseConfig(readFileSync('config/pushring.compose.yaml', 'utf8'));
    if (!result.ok) throw new Error(JSON.stringify(result.problems));
    const hosts = [...result.config.shards.flatMap((s) => s.replicas), result.config.redis!.url!].map((u) => new URL(u).hostname);
    for (const host of hosts) expect(names).toContain(host);
    // The front doors write the targets where the shared volume is, and Prometheus reads it.
    const sdDir = result.config.discovery.file!.slice(0, result.config.discovery.file!.lastIndexOf('/'));
    for (const door of ['pushring-1', 'pushring-2']) expect(mounts(services[door]!)).toContainEqual({ source: 'sd', target: sdDir });
    expect(mounts(services['prometheus']!)).toContainEqual({ source: 'sd', target: '/etc/prometheus/targets' });
  });

  it('balances over both front doors', () => {
    const nginx = readFileSync('config/nginx.compose.conf', 'utf8');
    const upstreams = [...nginx.matchAll(/^\s*server ([\w-]+):9191/gm)].map((m) => m[1]);
    expect(upstreams).toEqual(['pushring-1', 'pushring-2']);
  });

  it('runs Prometheus with the shipped configuration, differing only in where the front doors are', async () => {
    type Prom = { scrape_configs: Array<{ job_name: string; static_configs?: Array<{ targets: string[] }> }> };
    const shipped = parse(readFileSync('config/prometheus.yml', 'utf8')) as Prom;
    const composed = parse(readFileSync('config/prometheus.compose.yml', 'utf8')) as Prom;
    const doors = composed.scrape_configs.find((j) => j.job_name === 'pushring')!;
    expect(doors.static_configs).toEqual([{ targets: ['pushring-1:9191', 'pushring-2:9191'] }]);
    doors.static_configs = shipped.scrape_configs.find((j) => j.job_name === 'pushring')!.static_configs!;
    expect(composed).toEqual(shipped);
    const { stdout } = await promisify(execFile)(requireBinary('promtool'), ['check', 'config', 'config/prometheus.compose.yml']);
    expect(stdout).toContain('SUCCESS');
  });
});

describe('the Grafana of docker-compose.yml', () => {
  const grafana = services['grafana']!;
  const mountedAt = (target: string): string => {
    const mount = mounts(grafana).find((m) => m.target === target);
    if (mount === undefined) throw new Error(`grafana mounts nothing at ${target}`);
    return mount.source;
  };
  const provisioning = mountedAt('/etc/grafana/provisioning');
  const datasources = parse(readFileSync(`${provisioning}/datasources/prometheus.yml`, 'utf8')) as {
    apiVersion: number;
    datasources: Array<Record<string, unknown>>;
  };
  const providers = parse(readFileSync(`${provisioning}/dashboards/pushring.yml`, 'utf8')) as {
    apiVersion: number;
    providers: Array<{ type: string; options: { path: string } }>;
  };
  type Panel = { title: string; datasource?: { uid: string }; targets: Array<{ expr: string; datasource?: { uid: string } }> };
  const dashboard = JSON.parse(readFileSync('config/grafana/dashboards/pushring.json', 'utf8')) as { uid: string; panels: Panel[] };

  it('runs a pinned Grafana image after Prometheus, on port 3000', () => {
    expect(grafana.image).toMatch(/^grafana\/grafana(-oss)?:\d+\.\d+\.\d+$/);
    expect(grafana.depends_on).toContain('prometheus');
    expect(grafana.ports).toEqual(['3000:3000']);
  });

  it("provisions the stack's Prometheus as the one default data source", () => {
    expect(datasources.apiVersion).toBe(1);
    expect(datasources.datasources).toHaveLength(1);
    const [source] = datasources.datasources as [{ type: string; url: string; uid: string; isDefault: boolean }];
    expect(source.type).toBe('prometheus');
    expect(source.isDefault).toBe(true);
    const url = new URL(source.url);
    expect(names).toContain(url.hostname);
    // The port Prometheus listens on in the container (its published port is the same).
    expect(services[url.hostname]!.ports).toContain(`${url.port}:${url.port}`);
  });

  it('loads the shipped dashboard from where it is mounted, every panel on the provisioned data source', () => {
    expect(providers.apiVersion).toBe(1);
    const [provider] = providers.providers as [{ type: string; options: { path: string } }];
    expect(provider.type).toBe('file');
    expect(mountedAt(provider.options.path)).toBe('./config/grafana/dashboards');
    expect(grafana.environment?.['GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH']).toBe(`${provider.options.path}/pushring.json`);
    const uid = (datasources.datasources[0] as { uid: string }).uid;
    expect(dashboard.panels.length).toBeGreaterThan(0);
    for (const panel of dashboard.panels) {
      expect(panel.datasource?.uid, panel.title).toBe(uid);
      expect(panel.targets.length, panel.title).toBeGreaterThan(0);
      for (const target of panel.targets) expect(target.datasource?.uid, `${panel.title}: ${target.expr}`).toBe(uid);
    }
  });
});
