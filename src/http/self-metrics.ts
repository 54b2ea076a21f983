/**
 * The front door's own metrics on GET /metrics. Label values come from the configuration and a
 * fixed set of results, never from pushed data, so cardinality is bounded by the ring's size.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { isAnswer, type Backend, type ReplicaResult } from '../backends/client.js';
import type { Cluster } from '../backends/cluster.js';
import type { LimiterObserver } from '../limits/limiter.js';
import type { Rule } from '../limits/rules.js';
import type { WriteObserver } from '../write/fan-out.js';

type ReplicaOutcome = 'stored' | 'rejected' | 'server_error' | 'unreachable' | 'timeout' | 'down' | 'unknown' | 'skipped_down';

export interface SelfMetrics {
  readonly registry: Registry;
  readonly observer: WriteObserver;
  readonly limits: LimiterObserver;
  countPush(method: string, status: number): void;
}

export function createSelfMetrics(cluster: Cluster): SelfMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'pushring_' });

  const pushes = new Counter({
    name: 'pushring_pushes_total',
    help: 'Pushes answered by this front door, by method and HTTP status.',
    labelNames: ['method', 'code'] as const,
    registers: [registry],
  });
  const replicaWrites = new Counter({
    name: 'pushring_replica_writes_total',
    help: 'Writes to each replica by result: stored, rejected (4xx), server_error (5xx), unreachable (nothing sent), timeout, down (found down while waiting), unknown (connection lost after sending), skipped_down (known down, not tried: the replica missed the write).',
    labelNames: ['shard', 'replica', 'result'] as const,
    registers: [registry],
  });
  new Gauge({
    name: 'pushring_replica_up',
    help: 'Whether this front door believes a replica is up (1) or down (0).',
    labelNames: ['shard', 'replica', 'url'] as const,
    registers: [registry],
    collect() {
      for (const b of cluster.backends) this.set({ shard: b.shard, replica: b.replica, url: b.url }, b.up ? 1 : 0);
    },
  });
  new Gauge({
    name: 'pushring_shards_unavailable',
    help: 'Shards with no replica believed up; pushes for their groups fail.',
    registers: [registry],
    collect() {
      this.set(cluster.unavailableShards().length);
    },
  });

  const limited = new Counter({
    name: 'pushring_pushes_limited_total',
    help: 'Pushes refused with 429 because their job was over its limit, by limit rule.',
    labelNames: ['rule'] as const,
    registers: [registry],
  });
  const storeErrors = new Counter({
    name: 'pushring_limit_store_errors_total',
    help: 'Rate-limit checks that Redis failed (the push then went through the local or open policy).',
    registers: [registry],
  });
  const storeUp = new Gauge({
    name: 'pushring_limit_store_up',
    help: 'Whether the last rate-limit check reached Redis (1) or failed (0); 1 without Redis.',
    registers: [registry],
  });
  storeUp.set(1);
  const evicted = new Counter({
    name: 'pushring_limit_windows_evicted_total',
    help: 'Rate-limit windows forgotten by this front door to stay within limits.maxTrackedJobs.',
    registers: [registry],
  });

  // Resolved children, so that counting a push does no label hashing.
  const pushChildren = new Map<string, Counter.Internal>();
  const replicaChildren = new Map<Backend, Map<ReplicaOutcome, Counter.Internal>>();
  const replicaChild = (backend: Backend, outcome: ReplicaOutcome): Counter.Internal => {
    let byOutcome = replicaChildren.get(backend);
    if (byOutcome === undefined) replicaChildren.set(backend, (byOutcome = new Map()));
    let child = byOutcome.get(outcome);
    if (child === undefined) {
      child = replicaWrites.labels(backend.shard, backend.replica, outcome);
      byOutcome.set(outcome, child);
    }
    return child;
  };

  return {
    registry,
    limits: {
      limited: (rule: Rule) => limited.labels(rule.name).inc(),
      storeFailed: () => {
        storeErrors.inc();
        storeUp.set(0);
      },
      storeRecovered: () => storeUp.set(1),
      evicted: () => evicted.inc(),
    },
    countPush(method, status) {
      const key = method + status;
      let child = pushChildren.get(key);
      if (child === undefined) {
        child = pushes.labels(method, String(status));
        pushChildren.set(key, child);
      }
      child.inc();
    },
    observer: {
      replicaResult(backend: Backend, result: ReplicaResult) {
        replicaChild(backend, classify(result)).inc();
      },
      replicaSkipped(backend: Backend) {
        replicaChild(backend, 'skipped_down').inc();
      },
    },
  };
}

function classify(result: ReplicaResult): ReplicaOutcome {
  if (!isAnswer(result)) return result.failure;
  if (result.status < 300) return 'stored';
  return result.status < 500 ? 'rejected' : 'server_error';
}
