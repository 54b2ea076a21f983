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
