/**
 * A replica's connections for clients' reads are its own: a read that finds them all taken is
 * refused within its time-out, saying so, instead of waiting for ever; and the reconciler's, the
 * judge's and the administrative reads (Backend.streamGroups) never wait for them. Against a real
 * Pushgateway holding more than loopback socket buffers take.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Backend, type ReplicaStream } from '../../src/backends/client.js';
import { waitFor } from '../helpers/processes.js';
import { startPushgateway, type Pushgateway } from '../helpers/pushgateway.js';

const GROUPS = 60;
let gateway: Pushgateway;
let backend: Backend;

beforeAll(async () => {
  gateway = await startPushgateway({ args: ['--push.disable-consistency-check'] });
  const body = Array.from({ length: 2_000 }, (_, i) => `pool_series{n="${i}",pad="${'x'.repeat(40)}"} ${i}`).join('\n') + '\n';
  for (let i = 0; i < GROUPS; i++) {
    const res = await fetch(`${gateway.url}/metrics/job/pool${i}`, { method: 'PUT', body });
    expect(res.status).toBeLessThan(300);
    await res.text();
  }
  await waitFor(async () => (await gateway.groups()).length === GROUPS, { what: 'the groups to be stored', timeoutMs: 60_000 });
  backend = new Backend({
    shard: 's0',
    replica: '0',
    url: gateway.url,
    connections: 4,
    readConnections: 1,
    connectTimeoutMs: 1_000,
    timeoutMs: 1_000,
    probeTimeoutMs: 1_000,
    upAfterProbes: 1,
  });
}, 90_000);

afterAll(async () => {
  await backend?.close();
  await gateway?.close();
});

describe("a replica's read connections", () => {
  it('refuse a read past them within its time-out, and never hold up streamGroups', async () => {
    const held: ReplicaStream = await backend.stream('/metrics');
    expect(await held.next()).toBeInstanceOf(Buffer);

    // Refused by its own time-out while the held read is still open (it never ends by itself).
    await expect(backend.stream('/api/v1/metrics', 500)).rejects.toThrow('no answer within 500 ms (from the replica, or a free connection to it)');

    let groups = 0;
    for await (const group of backend.streamGroups()) if (group.labels['job']?.startsWith('pool')) groups++;
    expect(groups).toBe(GROUPS);

    held.close();
    // The connection is free again.
    const next = await backend.stream('/api/v1/metrics');
    expect(await next.next()).toBeInstanceOf(Buffer);
    next.close();
  }, 60_000);
});
