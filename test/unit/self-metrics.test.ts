/**
 * The front door's self-metrics that describe the ring: they follow the ring in force, so that
 * Prometheus can compare it with what it scrapes (PushringDiscoveryDrift).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createCluster, type Cluster } from '../../src/backends/cluster.js';
import { createSelfMetrics } from '../../src/http/self-metrics.js';
import { validated } from '../helpers/config.js';

let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

const config = (shards: Array<{ name: string; replicas: string[]; draining?: boolean }>) =>
  validated({ listen: '127.0.0.1:0', shards, log: { level: 'silent' } });

/** The series of one metric, as `name{labels} value` lines. */
async function seriesOf(metrics: ReturnType<typeof createSelfMetrics>, name: string): Promise<string[]> {
  const text = await metrics.registry.getSingleMetricAsString(name);
  return text
    .split('\n')
    .filter((line) => line.startsWith(name))
    .sort();
}

describe('the ring in the self-metrics', () => {
  it('has one series per replica of the ring in force, draining shards included, and follows a ring reload', async () => {
    cluster = createCluster(
      config([
        { name: 'a', replicas: ['http://127.0.0.1:9101', 'http://127.0.0.1:9102'] },
        { name: 'b', replicas: ['http://127.0.0.1:9103'], draining: true },
      ]),
    );
    const metrics = createSelfMetrics(cluster);
    expect(await seriesOf(metrics, 'pushring_ring_backend')).toEqual([
      'pushring_ring_backend{shard="a",replica="0",url="http://127.0.0.1:9101"} 1',
      'pushring_ring_backend{shard="a",replica="1",url="http://127.0.0.1:9102"} 1',
      'pushring_ring_backend{shard="b",replica="0",url="http://127.0.0.1:9103"} 1',
    ]);
    // b removed, c added, a's second replica replaced: nothing of the old ring is left.
    cluster.applyRing(
      config([
        { name: 'a', replicas: ['http://127.0.0.1:9101', 'http://127.0.0.1:9112'] },
        { name: 'c', replicas: ['http://127.0.0.1:9104', 'http://127.0.0.1:9105'] },
      ]),
    );
    expect(await seriesOf(metrics, 'pushring_ring_backend')).toEqual([
      'pushring_ring_backend{shard="a",replica="0",url="http://127.0.0.1:9101"} 1',
      'pushring_ring_backend{shard="a",replica="1",url="http://127.0.0.1:9112"} 1',
      'pushring_ring_backend{shard="c",replica="0",url="http://127.0.0.1:9104"} 1',
      'pushring_ring_backend{shard="c",replica="1",url="http://127.0.0.1:9105"} 1',
    ]);
  });

  it('pushring_replica_up drops a replica the ring no longer holds', async () => {
    cluster = createCluster(
      config([
        { name: 'a', replicas: ['http://127.0.0.1:9101'] },
        { name: 'b', replicas: ['http://127.0.0.1:9103'] },
      ]),
    );
    const metrics = createSelfMetrics(cluster);
    expect(await seriesOf(metrics, 'pushring_replica_up')).toHaveLength(2);
    cluster.applyRing(config([{ name: 'a', replicas: ['http://127.0.0.1:9101'] }]));
    expect(await seriesOf(metrics, 'pushring_replica_up')).toEqual(['pushring_replica_up{shard="a",replica="0",url="http://127.0.0.1:9101"} 1']);
  });
});
