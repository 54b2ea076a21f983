/**
 * Applying a reloaded configuration to a runtime without Redis (nothing here is listened on or
 * written to; a replica that must answer is one that never does).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ringVersion } from '../../src/backends/cluster.js';
import { applyConfig, refuseRemoval, restartOnlyChanges, type ReloadTarget } from '../../src/config/reload.js';
import type { Config } from '../../src/config/schema.js';
import { createRuntime, type Runtime } from '../../src/runtime.js';
import { validated } from '../helpers/config.js';

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
