import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../../src/config/load.js';
import { writeFileAtomically } from '../../src/discovery/file-sd.js';
import { buildTargets, formatTargets } from '../../src/discovery/targets.js';
import { validated } from '../helpers/config.js';

function configOf(extra: Record<string, unknown>) {
  return validated({
    shards: [
      { name: 'a', replicas: ['http://10.0.0.1:9091', 'http://10.0.0.2:9091'] },
      { name: 'b', replicas: ['https://pg.example:8443/prefix/', 'http://[::1]'] },
    ],
    ...extra,
  });
}

describe('buildTargets', () => {
  it('makes one target per backend with its shard and replica, scheme and path', () => {
    expect(buildTargets(configOf({}))).toEqual([
      { targets: ['10.0.0.1:9091'], labels: { replica: '0', shard: 'a' } },
      { targets: ['10.0.0.2:9091'], labels: { replica: '1', shard: 'a' } },
      { targets: ['pg.example:8443'], labels: { __metrics_path__: '/prefix/metrics', __scheme__: 'https', replica: '0', shard: 'b' } },
      { targets: ['[::1]:80'], labels: { replica: '1', shard: 'b' } },
    ]);
  });

  it('reads replicas given as { url, client } like strings, https ones with __scheme__', () => {
    const config = validated({
      shards: [
        {
          name: 'tls',
          client: { caFile: '/etc/ca.pem', basicAuth: { username: 'pushring', password: { file: '/run/pw' } } },
          replicas: [{ url: 'https://pg-0.example:9091', client: { serverName: 'pg' } }, 'https://pg-1.example:9091/pg'],
        },
      ],
    });
    expect(buildTargets(config)).toEqual([
      { targets: ['pg-0.example:9091'], labels: { __scheme__: 'https', replica: '0', shard: 'tls' } },
      { targets: ['pg-1.example:9091'], labels: { __metrics_path__: '/pg/metrics', __scheme__: 'https', replica: '1', shard: 'tls' } },
    ]);
    // Where the password lives is pushring's business, not Prometheus's.
    expect(formatTargets(buildTargets(config))).not.toMatch(/run\/pw|pushring|ca\.pem/);
  });

  it('uses the configured label names and static labels', () => {
    const targets = buildTargets(configOf({ discovery: { shardLabel: 'pr_shard', replicaLabel: 'pr_replica', labels: { env: 'prod' } } }));
    expect(targets[0]!.labels).toEqual({ env: 'prod', pr_replica: '0', pr_shard: 'a' });
  });

  it('refuses static labels that pushring sets itself', () => {
    const result = validateConfig({ shards: [{ name: 'a', replicas: ['http://h:1'] }], discovery: { labels: { shard: 'x' } } });
    expect(result.ok ? [] : result.problems.map((p) => p.path)).toEqual(['discovery.labels.shard']);
  });
});

describe('writeFileAtomically', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  it('writes the file, leaves no temporary file, and skips unchanged content', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pushring-sd-'));
    dirs.push(dir);
    const path = join(dir, 'targets.json');
    const content = formatTargets(buildTargets(configOf({})));
    expect(await writeFileAtomically(path, content)).toBe(true);
    expect(await readFile(path, 'utf8')).toBe(content);
    const written = (await stat(path)).mtimeMs;
    expect(await writeFileAtomically(path, content)).toBe(false);
    expect((await stat(path)).mtimeMs).toBe(written);
    expect(await writeFileAtomically(path, '[]\n')).toBe(true);
    expect(await readFile(path, 'utf8')).toBe('[]\n');
    expect(await readdir(dir)).toEqual(['targets.json']);
  });

  it('replaces the file by rename, so a reader holding the old one never sees a mix', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pushring-sd-'));
    dirs.push(dir);
    const path = join(dir, 'targets.json');
    await writeFileAtomically(path, 'old\n');
    const before = (await stat(path)).ino;
    await writeFileAtomically(path, 'new\n');
    expect((await stat(path)).ino).not.toBe(before);
  });
});
