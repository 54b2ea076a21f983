/**
 * Client settings of replicas (TLS files, basic auth) are not part of the ring: changing them
 * moves no groups, and a replica whose settings change gets a Backend of its own (fresh
 * connections), the others keep theirs.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { checkBackendClients, createCluster, ringVersion, type Cluster } from '../../src/backends/cluster.js';
import { validated } from '../helpers/config.js';

let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});
const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

const basicAuth = (file: string) => ({ username: 'pushring', password: { file } });

describe('replica client settings and the ring', () => {
  it.each([
    ['a string and its object form', [{ name: 'a', replicas: ['https://h:1'] }], [{ name: 'a', replicas: [{ url: 'https://h:1' }] }]],
    [
      'a shard-wide client added',
      [{ name: 'a', replicas: ['https://h:1'] }],
      [{ name: 'a', client: { serverName: 'pg', basicAuth: basicAuth('/run/pw') }, replicas: ['https://h:1'] }],
    ],
    [
      "a replica's own client changed",
      [{ name: 'a', replicas: [{ url: 'https://h:1', client: { serverName: 'x' } }] }],
      [{ name: 'a', replicas: [{ url: 'https://h:1', client: { serverName: 'y' } }] }],
    ],
  ])('%s is not a ring change', (_name, before, after) => {
    expect(ringVersion(validated({ shards: after }).shards)).toBe(ringVersion(validated({ shards: before }).shards));
  });

  it('gives a replica whose client settings change a new Backend, keeps the others, and stays steady', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pushring-clients-'));
    dirs.push(dir);
    const before = validated({ shards: [{ name: 'a', replicas: ['https://127.0.0.1:9101', 'https://127.0.0.1:9102'] }] });
    cluster = createCluster(before);
    const [first, second] = cluster.backends;
    cluster.applyRing(
      validated({
        shards: [{ name: 'a', replicas: ['https://127.0.0.1:9101', { url: 'https://127.0.0.1:9102', client: { basicAuth: basicAuth(join(dir, 'pw')) } }] }],
      }),
    );
    expect(cluster.backends[0]).toBe(first);
    expect(cluster.backends[1]).not.toBe(second);
    expect(cluster.backends[1]!.url).toBe('https://127.0.0.1:9102');
    expect(cluster.phase).toBe('steady');
  });

  it('leaves the ring in force when a new replica client file cannot be read', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pushring-clients-'));
    dirs.push(dir);
    const before = validated({ shards: [{ name: 'a', replicas: ['https://127.0.0.1:9101'] }] });
    cluster = createCluster(before);
    const [first] = cluster.backends;
    const missing = join(dir, 'missing.pem');
    const next = validated({ shards: [{ name: 'a', client: { caFile: missing }, replicas: ['https://127.0.0.1:9101'] }] });
    expect(checkBackendClients(next)).toEqual([`cannot read shards[0].client.caFile (${missing}): ENOENT; give a readable PEM file`]);
    expect(() => cluster!.applyRing(next)).toThrow(/cannot read shards\[0\]\.client\.caFile/);
    expect(cluster.backends).toEqual([first]);
    await writeFile(missing, 'not a PEM file');
    expect(checkBackendClients(next)).toEqual([expect.stringMatching(/^cannot use shards\[0\]\.client\.caFile \(.*missing\.pem\): .*; give PEM files/)]);
  });
});
