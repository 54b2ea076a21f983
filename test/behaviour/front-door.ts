/**
 * Test wiring: a front door over real Pushgateways, built through the same buildApp the server
 * uses (the server hands it the runtime's cluster and stores; a test hands it its own, to
 * observe them), listening on a free loopback port; plus a raw HTTP client that neither follows
 * redirects nor rewrites anything, to compare answers byte for byte.
 */
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { request } from 'undici';
import { expect } from 'vitest';
import { createCluster, startHealthChecks, type Cluster } from '../../src/backends/cluster.js';
import type { Config } from '../../src/config/schema.js';
import type { Ring } from '../../src/core/ring.js';
import { buildApp } from '../../src/http/app.js';
import { createSelfMetrics, type SelfMetrics } from '../../src/http/self-metrics.js';
import { createStartingJudge } from '../../src/judge/index-judge.js';
import type { WindowStore } from '../../src/limits/store.js';
import { createMemoryHintStore, type HintStore } from '../../src/reconcile/hints.js';
import { createReconciler, type PassReport, type Reconciler } from '../../src/reconcile/reconciler.js';
import { createSuspectStore, type SuspectStore } from '../../src/reconcile/suspects.js';
import { createLocalTransition, type Transition } from '../../src/reconcile/transition.js';
import { startPushgateway, type Group, type Pushgateway } from '../helpers/pushgateway.js';
import { validated } from '../helpers/config.js';

export interface FrontDoor {
  readonly url: string;
  readonly config: Readonly<Config>;
  readonly cluster: Cluster;
  /** backends[s][r]: replica r of shard s (shards named s0, s1, …). */
  readonly backends: Pushgateway[][];
  /** Forgets the judge's index: the next push rebuilds it from the backends (after a test wiped them). */
  resetIndex(): void;
  /** With `reconcile: true`: the reconciler, wired as the runtime wires a lone front door's. */
  readonly reconcile: DoorReconciler | undefined;
  close(): Promise<void>;
}

/**
 * A lone front door's reconciler, as `createRuntime` builds it without Redis: the app's suspect
 * marks and hints, a local ring-change transition, migration on, and each pass reported to the
 * self-metrics the app serves (as the runtime's reconcile loop reports it). The test runs the
 * passes itself: no loop, so no timing.
 */
export interface DoorReconciler {
  readonly reconciler: Reconciler;
  readonly transition: Transition;
  readonly suspects: SuspectStore;
  readonly metrics: SelfMetrics;
  /** One pass, reported to the self-metrics. */
  pass(): Promise<PassReport>;
}

export async function startFrontDoor(opts: {
  shards: number;
  replicas?: number;
  pushgatewayArgs?: string[];
  /** Give every Pushgateway a persistence file, so a graceful restart keeps its groups. */
  persistence?: boolean;
  /** Indexes of shards that start draining (known, owning nothing). */
  drainingShards?: number[];
  config?: Record<string, unknown>;
  sharedLimitStore?: WindowStore;
  suspects?: SuspectStore;
  hints?: HintStore;
  /** A logger for the app (default: none). */
  logger?: FastifyBaseLogger;
  /** Called with the built app before it listens (a test registers its own routes). */
  beforeListen?: (app: FastifyInstance) => void;
  /** Build a reconciler over the cluster, fed to the self-metrics (FrontDoor.reconcile). */
  reconcile?: boolean;
}): Promise<FrontDoor> {
  const replicas = opts.replicas ?? 2;
  const backends: Pushgateway[][] = [];
  for (let s = 0; s < opts.shards; s++) {
    backends.push(
      await Promise.all(Array.from({ length: replicas }, () => startPushgateway({ args: opts.pushgatewayArgs ?? [], persistence: opts.persistence ?? false }))),
    );
  }
  const config = validated({
    listen: '127.0.0.1:0',
    shards: backends.map((replicaSet, s) => ({
      name: `s${s}`,
      replicas: replicaSet.map((b) => b.url),
      draining: opts.drainingShards?.includes(s) ?? false,
    })),
    health: { intervalMs: 200, timeoutMs: 500 },
    log: { level: 'silent' },
    ...opts.config,
  });
  const cluster = createCluster(config);
  const health = startHealthChecks(cluster, config.health.intervalMs);
  let judge = createStartingJudge(config.judge, () => cluster.backends);
  const reconcile = opts.reconcile === true ? createDoorReconciler(cluster, config, opts.suspects, opts.hints) : undefined;
  const suspects = opts.suspects ?? reconcile?.suspects;
  const hints = opts.hints ?? reconcile?.hints;
  const app = buildApp({
    config,
    cluster,
    logger: opts.logger ?? false,
    judge: {
      judge: (write) => judge.judge(write),
      recordFailure: (write, refusal) => judge.recordFailure(write, refusal),
      undo: (accepted) => judge.undo(accepted),
      settle: (accepted) => judge.settle(accepted),
      ready: (timeoutMs) => judge.ready(timeoutMs),
      seriesHeld: () => judge.seriesHeld(),
    },
    ...(opts.sharedLimitStore === undefined ? {} : { sharedLimitStore: opts.sharedLimitStore }),
    ...(suspects === undefined ? {} : { suspects }),
    ...(hints === undefined ? {} : { hints }),
    ...(reconcile === undefined ? {} : { metrics: reconcile.metrics }),
  });
  opts.beforeListen?.(app);
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return {
    url,
    config,
    cluster,
    backends,
    resetIndex() {
      judge = createStartingJudge(config.judge, () => cluster.backends);
    },
    reconcile: reconcile?.door,
    async close() {
      health.stop();
      await app.close();
      await cluster.close();
      await Promise.all(backends.flat().map((b) => b.close()));
    },
  };
}

function createDoorReconciler(
  cluster: Cluster,
  config: Readonly<Config>,
  givenSuspects: SuspectStore | undefined,
  givenHints: HintStore | undefined,
): { door: DoorReconciler; suspects: SuspectStore; hints: HintStore; metrics: SelfMetrics } {
  const metrics = createSelfMetrics(cluster);
  const suspects = givenSuspects ?? createSuspectStore();
  metrics.watchSuspects(suspects);
  const hints = givenHints ?? createMemoryHintStore(config.reconcile.hints, metrics.hints);
  const transition = createLocalTransition(cluster, 0);
  const reconciler = createReconciler({
    cluster,
    config: config.reconcile,
    suspects,
    hints,
    transition,
    migrate: true,
    events: {
      hintsReplayed: (count) => metrics.hints.replayed(count),
      hintsSuperseded: (count) => metrics.hints.superseded(count),
    },
  });
  const door: DoorReconciler = {
    reconciler,
    transition,
    suspects,
    metrics,
    async pass() {
      const report = await reconciler.pass();
      metrics.passDone(report);
      return report;
    },
  };
  return { door, suspects, hints, metrics };
}

export interface RawRequest {
  readonly method: string;
  readonly path: string;
  readonly headers?: Record<string, string>;
  readonly body?: string | Buffer;
}

export interface RawResponse {
  readonly status: number;
  readonly body: string;
  readonly headers: Record<string, string | undefined>;
}

/** The headers a Pushgateway-compatible answer is compared on. */
const COMPARED_HEADERS = ['content-type', 'location', 'allow', 'x-content-type-options'];

export async function send(base: string, req: RawRequest): Promise<RawResponse> {
  const res = await request(base + req.path, {
    method: req.method as 'PUT',
    headers: req.headers ?? {},
    body: req.body ?? null,
  });
  const body = await res.body.text();
  const headers: Record<string, string | undefined> = {};
  for (const name of COMPARED_HEADERS) {
    const value = res.headers[name];
    headers[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return { status: res.statusCode, body, headers };
}

/**
 * Every group the front door's backends hold, checked to be identical on the replicas of each
 * shard and present on one shard only, in the normalised form of `Pushgateway.groups()`.
 */
export async function storedGroups(door: FrontDoor): Promise<Group[]> {
  const all: Group[] = [];
  for (const [s, replicaSet] of door.backends.entries()) {
    const copies = await Promise.all(replicaSet.map((b) => b.groups()));
    for (const copy of copies.slice(1)) {
      if (JSON.stringify(copy) !== JSON.stringify(copies[0])) {
        throw new Error(`the replicas of shard s${s} differ:\n${JSON.stringify(copies, null, 1)}`);
      }
    }
    all.push(...copies[0]!);
  }
  const keys = all.map((g) => JSON.stringify(g.labels));
  if (new Set(keys).size !== keys.length) throw new Error(`a group is stored on two shards: ${keys.join(' ')}`);
  return all.sort((a, b) => (JSON.stringify(a.labels) < JSON.stringify(b.labels) ? -1 : 1));
}

/**
 * Where each group of job `job` is: instance number -> the shards holding it and the value of
 * `metric`. Throws when the two replicas of a shard differ.
 */
export async function locateGroups(backends: Pushgateway[][], metric: string): Promise<Map<number, { shards: string[]; value: string }>> {
  const found = new Map<number, { shards: string[]; value: string }>();
  for (const [s, replicas] of backends.entries()) {
    const [a, b] = await Promise.all(replicas.map((r) => r.groups()));
    if (JSON.stringify(a) !== JSON.stringify(b)) throw new Error(`the replicas of shard s${s} differ`);
    for (const g of a!) {
      const i = Number(g.labels['instance']!.slice(1));
      const entry = found.get(i) ?? { shards: [], value: '' };
      entry.shards.push(`s${s}`);
      entry.value = String(g.metrics[metric]?.metrics[0]?.['value']);
      found.set(i, entry);
    }
  }
  return found;
}

/**
 * After a ring change: every group `0..count-1` is on exactly its owner under `after`, holds its
 * last acknowledged value, and each one whose owner changed went to `newShard`. Returns how many
 * moved.
 */
export function expectMigrated(
  located: ReadonlyMap<number, { shards: string[]; value: string }>,
  acked: ReadonlyMap<number, string>,
  keyOf: (i: number) => string,
  rings: { before: Ring; after: Ring },
  count: number,
  newShard: string,
): number {
  let moved = 0;
  for (let i = 0; i < count; i++) {
    const where = located.get(i);
    expect(where?.shards, `group i${i}`).toEqual([rings.after.ownerOf(keyOf(i))]);
    expect(where?.value, `group i${i} holds its last acknowledged value`).toBe(acked.get(i));
    if (rings.before.ownerOf(keyOf(i)) !== rings.after.ownerOf(keyOf(i))) {
      moved++;
      expect(rings.after.ownerOf(keyOf(i)), 'a moved group goes to the new shard').toBe(newShard);
    }
  }
  return moved;
}

/** A GET /api/v1/metrics answer. */
export interface ApiMetrics {
  readonly status: string;
  readonly data: Record<string, unknown>[];
}

/**
 * /api/v1/metrics as reads.test.ts compares it with a lone Pushgateway's: push times and time
 * stamps replaced (0 stays 0: no failure), groups sorted by their labels.
 */
export function normaliseApiMetrics(doc: ApiMetrics): unknown {
  const scrub = (value: unknown, key = ''): unknown => {
    if (Array.isArray(value)) return value.map((v) => scrub(v, key));
    if (value !== null && typeof value === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value))
        if (k !== 'time_stamp') out[k] = scrub(v, k === 'push_time_seconds' || k === 'push_failure_time_seconds' ? k : key);
      return out;
    }
    if (key !== '' && typeof value === 'string' && /^[0-9.e+]+$/.test(value) && Number(value) !== 0) return 'T';
    return value;
  };
  const data = doc.data
    .map((g) => scrub(g))
    .sort((a, b) => (JSON.stringify((a as { labels: unknown }).labels) < JSON.stringify((b as { labels: unknown }).labels) ? -1 : 1));
  return { status: doc.status, data };
}

/**
 * A text exposition as reads.test.ts compares it: families (header lines, and series lines
 * sorted), pushed series only (a Pushgateway's own carry no job label), push times replaced.
 * Also checks each family appears once.
 */
export function normaliseExposition(text: string): Record<string, { header: string[]; series: string[] }> {
  const families: Record<string, { header: string[]; series: string[] }> = {};
  const seen = new Set<string>();
  let current = '';
  for (const line of text.split('\n')) {
    const header = /^# (?:HELP|TYPE) (\S+)/.exec(line);
    if (header !== null) {
      if (header[1] !== current) {
        expect(seen.has(header[1]!), `family ${header[1]} appears once`).toBe(false);
        seen.add(header[1]!);
        current = header[1]!;
        families[current] = { header: [], series: [] };
      }
      families[current]!.header.push(line);
      continue;
    }
    if (line === '' || !/[{,]job="/.test(line)) continue;
    const normalised = /^push_(?:failure_)?time_seconds\{/.test(line) && !line.endsWith(' 0') ? line.replace(/ \S+$/, ' T') : line;
    families[current]!.series.push(normalised);
  }
  for (const [name, f] of Object.entries(families)) {
    if (f.series.length === 0) delete families[name];
    else f.series.sort();
  }
  return families;
}
