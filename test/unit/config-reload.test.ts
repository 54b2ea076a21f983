/**
 * Applying a reloaded configuration to a runtime without Redis (nothing here is listened on or
 * written to; a replica that must answer is one that never does).
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ringVersion } from '../../src/backends/cluster.js';
import { applyConfig, certificatesWaitingForTls, refuseRemoval, restartOnlyChanges, watchAndReload, type ReloadTarget } from '../../src/config/reload.js';
import type { Config } from '../../src/config/schema.js';
import { createRuntime, type Runtime } from '../../src/runtime.js';
import { buildApp } from '../../src/http/app.js';
import { reloadTargetOf } from '../../src/server.js';
import { validated } from '../helpers/config.js';
import { removeTempDirs, tempDir, waitFor } from '../helpers/processes.js';

const shard = (name: string, port: number, draining = false) => ({ name, replicas: [`http://127.0.0.1:${port}`], draining });
const configOf = (shards: ReturnType<typeof shard>[], extra: Record<string, unknown> = {}) => validated({ shards, ...extra });
const A = configOf([shard('a', 1), shard('b', 2)]);

let runtime: Runtime | undefined;
afterEach(async () => {
  await runtime?.close();
  runtime = undefined;
});

function targetOf(config: Readonly<Config>) {
  const rt = (runtime = createRuntime(config));
  const results: string[] = [];
  const logged: Array<[string, object, string]> = [];
  let kicks = 0;
  const target: ReloadTarget = {
    get config() {
      return rt.config;
    },
    get targets() {
      return rt.targets;
    },
    cluster: rt.cluster,
    transition: rt.transition,
    logger: {
      info: (details, message) => void logged.push(['info', details, message]),
      warn: (details, message) => void logged.push(['warn', details, message]),
      error: (details, message) => void logged.push(['error', details, message]),
    },
    metrics: { reloaded: (result) => void results.push(result) },
    useConfig: (next) => rt.useConfig(next),
    useAuth: (next) => rt.useAuth(next),
    reconcileSoon: () => void kicks++,
  };
  return { rt, target, results, logged, kicks: () => kicks };
}

describe('applyConfig', () => {
  it('applies a grown ring: the change is recorded, writes go to both owners, the targets follow, a pass comes soon', async () => {
    const { rt, target, results, kicks } = targetOf(A);
    const grown = configOf([shard('a', 1), shard('b', 2), shard('c', 3)]);
    expect(await applyConfig(target, grown)).toBe(true);
    expect(rt.cluster.version).toBe(ringVersion(grown.shards));
    expect(rt.cluster.phase).toBe('dual');
    expect((await rt.transition.state()).to).toBe(ringVersion(grown.shards));
    expect(rt.config.shards.map((s) => s.name)).toEqual(['a', 'b', 'c']);
    expect(rt.targets).toContain('127.0.0.1:3');
    expect(results).toEqual(['applied']);
    expect(kicks()).toBe(1);
  });

  it('refuses a ring whose replica files cannot be used before any change is recorded, naming the file', async () => {
    const { rt, target, results, logged } = targetOf(A);
    const grown = validated({
      shards: [shard('a', 1), shard('b', 2), { name: 'c', replicas: ['https://127.0.0.1:3'], client: { caFile: '/nonexistent/ca.pem' } }],
    });
    expect(await applyConfig(target, grown)).toBe(false);
    expect(results).toEqual(['invalid']);
    expect(JSON.stringify(logged)).toContain('/nonexistent/ca.pem');
    expect(rt.cluster.version).toBe(ringVersion(A.shards));
    expect((await rt.transition.state()).id).toBeUndefined();
  });

  it('refuses to remove a shard that was not drained, and keeps the ring in force', async () => {
    const { rt, target, results, logged } = targetOf(A);
    const before = rt.cluster.version;
    expect(await applyConfig(target, configOf([shard('a', 1)]))).toBe(false);
    expect(rt.cluster.version).toBe(before);
    expect(rt.config.shards.map((s) => s.name)).toEqual(['a', 'b']);
    expect(results).toEqual(['refused']);
    expect(logged.find(([level]) => level === 'error')?.[1]).toEqual({ reason: expect.stringContaining('shard b was removed without draining it') });
  });

  it('refuses another ring while a change is being applied', async () => {
    const { rt, target, results } = targetOf(A);
    const grown = configOf([shard('a', 1), shard('b', 2), shard('c', 3)]);
    expect(await applyConfig(target, grown)).toBe(true);
    expect(await applyConfig(target, configOf([shard('a', 1), shard('b', 2), shard('c', 3), shard('d', 4)]))).toBe(false);
    expect(rt.cluster.version).toBe(ringVersion(grown.shards));
    expect(results).toEqual(['applied', 'refused']);
  });

  it('applies a change of discovery without a ring change, and names the settings that wait for a restart', async () => {
    const { rt, target, results, logged } = targetOf(A);
    const before = rt.cluster.version;
    const next = configOf([shard('a', 1), shard('b', 2)], { discovery: { replicaLabel: 'pushgateway_replica' }, write: { timeoutMs: 1_234 } });
    expect(await applyConfig(target, next)).toBe(true);
    expect(rt.cluster.version).toBe(before);
    expect(rt.cluster.phase).toBe('steady');
    expect(rt.targets).toContain('"pushgateway_replica"');
    expect(rt.config.write.timeoutMs).toBe(A.write.timeoutMs);
    expect(results).toEqual(['applied']);
    expect(logged.filter(([level]) => level === 'warn').map(([, details]) => details)).toEqual([{ settings: ['write'] }]);
  });
});

describe('refuseRemoval', () => {
  it('keeps a drained shard until its replicas can be read empty', async () => {
    const { rt } = targetOf(configOf([shard('a', 1), shard('b', 2, true)]));
    const reason = await refuseRemoval(rt.config, configOf([shard('a', 1)]), rt.cluster);
    expect(reason).toContain('shard b cannot be checked empty (http://127.0.0.1:2 does not answer)');
  });

  it('has nothing against a change that removes no shard', async () => {
    const { rt } = targetOf(A);
    expect(await refuseRemoval(rt.config, configOf([shard('a', 1), shard('b', 5), shard('c', 3)]), rt.cluster)).toBeUndefined();
  });
});

describe('restartOnlyChanges', () => {
  it.each([
    ['the ring and discovery only', { shards: [shard('a', 9)], discovery: { shardLabel: 'pr_shard' } }, []],
    ['the write time-out', { write: { timeoutMs: 99 } }, ['write']],
    ['limits and the log level', { limits: { default: { pushes: 1, windowSeconds: 1 } }, log: { level: 'debug' } }, ['log', 'limits']],
  ])('%s', (_name, change, expected) => {
    const next = validated({ shards: A.shards, ...change });
    expect(restartOnlyChanges(A, next).sort()).toEqual([...expected].sort());
  });

  it('counts a section removed from the file', () => {
    const withRedis = validated({ shards: A.shards, redis: { url: 'redis://127.0.0.1:1' } });
    expect(restartOnlyChanges(withRedis, A)).toEqual(['redis']);
  });
});

describe('a reloaded credential list', () => {
  const token = (name: string, file: string) => ({ name, token: { file }, push: ['*'] });
  const withAuth = (shards: ReturnType<typeof shard>[], credentials: unknown[], extra: Record<string, unknown> = {}) =>
    configOf(shards, { auth: { credentials }, ...extra });
  const names = (config: Readonly<Config>) => config.auth.credentials.map((c) => c.name);
  const kept = token('kept', '/run/kept.token');
  const leaked = token('leaked', '/run/leaked.token');
  const before = withAuth([shard('a', 1), shard('b', 2)], [kept, leaked]);
  afterAll(removeTempDirs);

  it.each([
    ['a ring change that is refused (an undrained shard removed)', [shard('a', 1)], 'refused'],
    [
      'a ring whose replica files cannot be used',
      [shard('a', 1), shard('b', 2), { name: 'c', replicas: ['https://127.0.0.1:3'], client: { caFile: '/nonexistent/ca.pem' } }],
      'invalid',
    ],
  ])('is put in force despite %s; the ring waits', async (_name, shards, result) => {
    const { rt, target, results } = targetOf(before);
    const ring = rt.cluster.version;
    expect(await applyConfig(target, validated({ shards, auth: { credentials: [kept] } }))).toBe(false);
    expect(names(rt.config)).toEqual(['kept']);
    expect(rt.cluster.version).toBe(ring);
    expect(results).toEqual([result]);
  });

  it('is put in force while a ring change under way refuses the next one', async () => {
    const { rt, target } = targetOf(before);
    const grown = withAuth([shard('a', 1), shard('b', 2), shard('c', 3)], [kept, leaked]);
    expect(await applyConfig(target, grown)).toBe(true);
    expect(await applyConfig(target, withAuth([shard('a', 1), shard('b', 2), shard('c', 3), shard('d', 4)], [kept]))).toBe(false);
    expect(rt.cluster.version).toBe(ringVersion(grown.shards));
    expect(names(rt.config)).toEqual(['kept']);
  });

  it('that cannot be put in force keeps the previous one and is tried again at the next check', async () => {
    const { rt, target, logged } = targetOf(before);
    let fail = true;
    const flaky: ReloadTarget = Object.assign(Object.create(target) as ReloadTarget, {
      useAuth: (next: Config['auth']) => {
        if (fail) throw new Error('cannot build the list');
        rt.useAuth(next);
      },
    });
    const next = withAuth([shard('a', 1), shard('b', 2)], [kept]);
    expect(await applyConfig(flaky, next)).toBe(false);
    expect(names(rt.config)).toEqual(['kept', 'leaked']);
    expect(JSON.stringify(logged)).toContain('the previous one keeps judging; tried again at the next check');
    fail = false;
    expect(await applyConfig(flaky, next)).toBe(true);
    expect(names(rt.config)).toEqual(['kept']);
  });

  it('follows the file with reload.liveResize off, and the ring waits for a restart', async () => {
    const dir = await tempDir('pushring-reload-');
    const file = join(dir, 'pushring.yaml');
    const input = (credentials: unknown[], shards: ReturnType<typeof shard>[]) =>
      JSON.stringify({ shards, reload: { liveResize: false, intervalSeconds: 1 }, auth: { credentials } });
    const text = input([kept, leaked], [shard('a', 1), shard('b', 2)]);
    await writeFile(file, text);
    const { rt, target, logged } = targetOf(validated(JSON.parse(text)));
    const ring = rt.cluster.version;
    const watcher = watchAndReload({ path: file, text }, target);
    try {
      await writeFile(file, input([kept], [shard('a', 1), shard('b', 2), shard('c', 3)]));
      await waitFor(async () => names(rt.config).length === 1, { what: 'the credential removed from the file to be out of force' });
      expect(names(rt.config)).toEqual(['kept']);
      expect(rt.cluster.version).toBe(ring);
      expect(rt.config.shards.map((s) => s.name)).toEqual(['a', 'b']);
      expect(logged).toContainEqual(['warn', { settings: ['shards'] }, expect.stringContaining('reload.liveResize is false')]);
    } finally {
      await watcher.stop();
    }
  });

  it('judges the first request after the reload with the new list', async () => {
    const dir = await tempDir('pushring-reload-');
    const files = { kept: join(dir, 'kept.token'), leaked: join(dir, 'leaked.token') };
    await writeFile(files.kept, 'tok-kept-5e1f0a');
    await writeFile(files.leaked, 'tok-leaked-9c2b7d');
    const config = withAuth([shard('a', 1)], [token('kept', files.kept), token('leaked', files.leaked)]);
    const rt = (runtime = createRuntime(config));
    const app = buildApp({ config, cluster: rt.cluster, logger: false, auth: () => rt.config.auth });
    await app.ready();
    try {
      const put = async (secret: string) =>
        (await app.inject({ method: 'PUT', url: '/metrics/job/j', headers: { authorization: `Bearer ${secret}` }, payload: 'm 1\n' })).statusCode;
      // Authenticated, then refused by the dead replica: anything but 401.
      expect(await put('tok-leaked-9c2b7d')).not.toBe(401);
      expect(await applyConfig(reloadTargetOf(rt, app), withAuth([shard('a', 1)], [token('kept', files.kept)]))).toBe(true);
      expect(await put('tok-leaked-9c2b7d')).toBe(401);
      expect(await put('tok-kept-5e1f0a')).not.toBe(401);
    } finally {
      await app.close();
    }
  });

  it('warns when a certificate credential needs a tls change that waits for a restart', async () => {
    const dir = await tempDir('pushring-reload-');
    const pem = join(dir, 'x.pem');
    await writeFile(pem, '');
    const tls = { certFile: pem, keyFile: join(dir, 'key.pem') };
    const withTls = (extraTls: Record<string, unknown>, credentials: unknown[]) =>
      configOf([shard('a', 1)], { tls: { ...tls, ...extraTls }, auth: { credentials } });
    const robot = { name: 'robot', certificate: { subject: 'CN=robot' }, push: ['robot'] };
    const current = withTls({}, [kept]);
    const next = withTls({ clientCaFile: pem }, [kept, robot]);
    expect(certificatesWaitingForTls(current, next)).toEqual(['robot']);
    expect(certificatesWaitingForTls(next, next)).toEqual([]);
    expect(certificatesWaitingForTls(withTls({ clientCaFile: pem }, [kept]), withTls({ clientCaFile: join(dir, 'other.pem') }, [kept]))).toEqual([]);
    const { target, logged } = targetOf(current);
    await applyConfig(target, next);
    expect(logged).toContainEqual(['warn', { credentials: ['robot'], settings: ['tls'] }, expect.stringContaining('change only at the next restart')]);
  });
});
