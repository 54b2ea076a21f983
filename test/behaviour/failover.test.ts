/**
 * Failover with real Pushgateways killed or frozen under the front door.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createRing } from '../../src/core/ring.js';
import { waitFor } from '../helpers/processes.js';
import { send, startFrontDoor, type FrontDoor } from './front-door.js';

let door: FrontDoor | undefined;
afterEach(async () => {
  await door?.close();
  door = undefined;
});

/** Paths of `count` groups that the ring places on shard `shard`. */
function groupsOn(d: FrontDoor, shard: string, count: number): string[] {
  const ring = createRing(d.config.shards);
  const paths: string[] = [];
  for (let i = 0; paths.length < count && i < 100_000; i++) {
    if (ring.ownerOf(`{instance="i${i}",job="failover"}`) === shard) paths.push(`/metrics/job/failover/instance/i${i}`);
  }
  return paths;
}

function counter(metrics: string, shard: string, replica: string, result: string): number {
  const match = metrics.match(new RegExp(`pushring_replica_writes_total\\{shard="${shard}",replica="${replica}",result="${result}"\\} (\\d+)`));
  return match === null ? 0 : Number(match[1]);
}

const push = (d: FrontDoor, path: string, value: number) =>
  send(d.url, { method: 'PUT', path, headers: { 'content-type': 'text/plain' }, body: `failover_value ${value}\n` });

async function instancesOn(d: FrontDoor, shard: number, replica: number): Promise<string[]> {
  return (await d.backends[shard]![replica]!.groups()).map((g) => g.labels.instance ?? '').sort();
}

describe('failover', () => {
  it('with one replica killed, pushes keep answering 200 and land on the twin', async () => {
    door = await startFrontDoor({ shards: 2 });
    const paths = groupsOn(door, 's0', 30);
    for (const path of paths.slice(0, 10)) expect((await push(door, path, 1)).status).toBe(200);
    void door.backends[0]![0]!.kill();
    await door.backends[0]![0]!.process.exited;
    const statuses = [];
    for (const path of paths) statuses.push((await push(door, path, 2)).status);
    expect(statuses).toEqual(paths.map(() => 200));
    const expected = paths.map((p) => p.split('/').pop()!).sort();
    expect(await instancesOn(door, 0, 1)).toEqual(expected);
    const metrics = await (await fetch(`${door.url}/-/metrics`)).text();
    expect(metrics).toMatch(/pushring_replica_up\{shard="s0",replica="0",[^}]*\} 0/);
    expect(metrics).toMatch(/pushring_replica_writes_total\{shard="s0",replica="0",result="skipped_down"\} \d+/);
  });

  it('with both replicas of a shard dead, that shard answers 503 and the other shard is unaffected', async () => {
    door = await startFrontDoor({ shards: 2 });
    for (const b of door.backends[0]!) void b.kill();
    await Promise.all(door.backends[0]!.map((b) => b.process.exited));
    const [deadPath] = groupsOn(door, 's0', 1);
    const [livePath] = groupsOn(door, 's1', 1);
    const dead = await push(door, deadPath!, 1);
    expect(dead.status).toBe(503);
    const again = await fetch(door.url + deadPath!, { method: 'PUT', body: 'failover_value 1\n' });
    expect(again.headers.get('x-pushring-error')).toBe('PUSHRING_SHARD_UNAVAILABLE');
    expect(dead.body).toMatch(/^pushring: no replica of shard "s0" could be reached; the push was not stored/);
    const live = await push(door, livePath!, 1);
    expect(live.status).toBe(200);
    expect((await instancesOn(door, 1, 0)).length).toBe(1);
    expect((await instancesOn(door, 1, 1)).length).toBe(1);
    const ready = await fetch(`${door.url}/-/ready`);
    expect(ready.status).toBe(503);
    expect(await ready.text()).toContain('s0');
  });

  it('a frozen replica (SIGSTOP) does not fail pushes, and is skipped once found down', async () => {
    door = await startFrontDoor({ shards: 1, config: { write: { timeoutMs: 3_000 }, health: { intervalMs: 200, timeoutMs: 300 } } });
    const frozen = door.backends[0]![0]!;
    frozen.stop();
    try {
      const paths = groupsOn(door, 's0', 20);
      const statuses = [];
      for (const path of paths) statuses.push((await push(door, path, 1)).status);
      expect(statuses).toEqual(paths.map(() => 200));
      expect(door.cluster.backends[0]!.up).toBe(false);
      expect((await instancesOn(door, 0, 1)).length).toBe(20);
      // Released by the failed probe before any write time-out, then skipped: it added its
      // time-out to no push.
      const metrics = await (await fetch(`${door.url}/-/metrics`)).text();
      expect(counter(metrics, 's0', '0', 'timeout')).toBe(0);
      expect(counter(metrics, 's0', '0', 'down') + counter(metrics, 's0', '0', 'skipped_down')).toBe(20);
      expect(counter(metrics, 's0', '0', 'skipped_down')).toBeGreaterThanOrEqual(18);
    } finally {
      frozen.cont();
    }
  });

  it('a hung shard (both replicas frozen) fails pushes at once with 503 once known down, other shards unaffected', async () => {
    door = await startFrontDoor({ shards: 2, config: { write: { timeoutMs: 1_000 }, health: { intervalMs: 200, timeoutMs: 300 } } });
    const [hungPath] = groupsOn(door, 's0', 1);
    const [livePath] = groupsOn(door, 's1', 1);
    for (const b of door.backends[0]!) b.stop();
    try {
      const first = await push(door, hungPath!, 1);
      // Sent, never answered: it may or may not be stored, so 504, never "not stored".
      expect([503, 504]).toContain(first.status);
      await waitFor(async () => door!.cluster.backends.filter((b) => b.shard === 's0').every((b) => !b.up), { what: 'both replicas of s0 to be probed down' });
      const answers = [];
      for (let i = 0; i < 20; i++) answers.push(await push(door, hungPath!, 2));
      expect(answers.map((a) => a.status)).toEqual(answers.map(() => 503));
      expect(answers[0]!.headers['content-type']).toBe('text/plain; charset=utf-8');
      expect(answers[0]!.body).toMatch(/^pushring: no replica of shard "s0" could be reached; the push was not stored/);
      expect((await push(door, livePath!, 1)).status).toBe(200);
      const metrics = await (await fetch(`${door.url}/-/metrics`)).text();
      expect(counter(metrics, 's0', '0', 'skipped_down')).toBeGreaterThanOrEqual(20);
      expect(metrics).toMatch(/pushring_shards_unavailable 1/);
    } finally {
      for (const b of door.backends[0]!) b.cont();
    }
  });

  it('a replica that was down takes writes again only after two successful probes in a row', async () => {
    // Probes only by hand here: the background interval is longer than the test.
    door = await startFrontDoor({ shards: 1, config: { health: { intervalMs: 600_000, timeoutMs: 500 } } });
    const replica = door.backends[0]![0]!;
    const backend = door.cluster.backends[0]!;
    await replica.kill();
    expect((await push(door, '/metrics/job/hold/instance/1', 1)).status).toBe(200);
    expect(backend.up).toBe(false);
    await replica.restart();
    expect(await backend.probe()).toBe(true);
    expect(backend.up).toBe(false);
    expect(await backend.probe()).toBe(true);
    expect(backend.up).toBe(true);
    // A failure in between starts the count again.
    backend.markDown('test');
    await backend.probe();
    expect(backend.up).toBe(false);
  });

  it('a returning replica is probed up again and receives writes', async () => {
    door = await startFrontDoor({ shards: 1 });
    const replica = door.backends[0]![0]!;
    void replica.kill();
    await replica.process.exited;
    expect((await push(door, '/metrics/job/back/instance/1', 1)).status).toBe(200);
    await replica.restart();
    await waitFor(async () => door!.cluster.backends[0]!.up, { what: 'the restarted replica to be probed up' });
    expect((await push(door, '/metrics/job/back/instance/2', 1)).status).toBe(200);
    expect(await instancesOn(door, 0, 0)).toEqual(['2']);
  });
});
