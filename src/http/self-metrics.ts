/**
 * The front door's own metrics on GET /metrics. Label values come from the configuration and a
 * fixed set of results, never from pushed data, so cardinality is bounded by the ring's size.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { isAnswer, type Backend, type ReplicaResult } from '../backends/client.js';
import type { Cluster } from '../backends/cluster.js';
import type { LimiterObserver } from '../limits/limiter.js';
import type { Rule } from '../limits/rules.js';
import type { AdminCall, AdminOutcome } from '../core/admin.js';
import type { WriteObserver } from '../write/fan-out.js';
import type { HintEvents } from '../reconcile/hints.js';
import type { PassReport } from '../reconcile/reconciler.js';
import type { SuspectStore } from '../reconcile/suspects.js';

type ReplicaOutcome = 'stored' | 'rejected' | 'server_error' | 'unreachable' | 'timeout' | 'down' | 'unknown' | 'skipped_down';

export interface SelfMetrics {
  readonly registry: Registry;
  readonly observer: WriteObserver;
  readonly limits: LimiterObserver;
  readonly hints: HintEvents & { replayed(count: number): void; superseded(count: number): void };
  /** A reconciler pass is done. */
  passDone(report: PassReport): void;
  /** How many replicas are suspect now (read at scrape time). */
  watchSuspects(suspects: SuspectStore): void;
  /** A configuration change was applied, refused (it could lose groups), or invalid. */
  reloaded(result: 'applied' | 'refused' | 'invalid'): void;
  countPush(method: string, status: number): void;
  /** A push the body step refused, by why (http/judging.ts). */
  judgeRefused(reason: JudgeRefusal): void;
  /** The judge's index, its series counted at scrape time; and the backends running in the other judging mode. */
  watchJudge(judge: { seriesHeld(): Promise<number> } | undefined, mismatched: () => readonly Backend[]): void;
  /** A request auth refused, by credential name (configured, `anonymous` or `unknown`) and why. */
  authRefused(credential: string, reason: AuthRefusal): void;
  /** Auth's state, read at scrape time. */
  watchAuth(state: { throttledAddresses(): number; unreadableSecrets(): number }): void;
  /** An administrative delete call (http/admin.ts): how it ended, and the groups it deleted and failed to delete. */
  adminCall(call: AdminCall, outcome: AdminOutcome, deleted: number, failed: number): void;
}

/** Why auth refused a request: bounded, fixed values. */
export type AuthRefusal = 'unauthenticated' | 'forbidden' | 'throttled';

/** Why the body step refused a push: bounded, fixed values. */
export type JudgeRefusal = 'inconsistent' | 'poison' | 'invalid_body' | 'body_limit' | 'busy' | 'unavailable' | 'starting' | 'index_full';

export function createSelfMetrics(cluster: Cluster): SelfMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'pushring_' });

  // The hot path only adds to plain numbers (prom-client hashes labels on every inc, even through
  // a child); the totals are handed to prom-client when Prometheus scrapes.
  const pushCounts = new Map<string, { method: string; code: string; n: number }>();
  const replicaCounts = new Map<Backend, Map<ReplicaOutcome, number>>();
  new Counter({
    name: 'pushring_pushes_total',
    help: 'Pushes answered by this front door, by method and HTTP status.',
    labelNames: ['method', 'code'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const { method, code, n } of pushCounts.values()) this.inc({ method, code }, n);
    },
  });
  new Counter({
    name: 'pushring_replica_writes_total',
    help: 'Writes to each replica by result: stored, rejected (4xx), server_error (5xx), unreachable (nothing sent), timeout, down (found down while waiting), unknown (connection lost after sending), skipped_down (known down, not tried: the replica missed the write).',
    labelNames: ['shard', 'replica', 'result'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const [b, byOutcome] of replicaCounts) for (const [result, n] of byOutcome) this.inc({ shard: b.shard, replica: b.replica, result }, n);
    },
  });
  new Gauge({
    name: 'pushring_replica_up',
    help: 'Whether this front door believes a replica is up (1) or down (0).',
    labelNames: ['shard', 'replica', 'url'] as const,
    registers: [registry],
    collect() {
      // A replica a ring change removed must not stay reported as it last was.
      this.reset();
      for (const b of cluster.backends) this.set({ shard: b.shard, replica: b.replica, url: b.url }, b.up ? 1 : 0);
    },
  });
  new Gauge({
    name: 'pushring_ring_backend',
    help: 'One series of value 1 per Pushgateway replica of the ring in force (draining shards included): what Prometheus must scrape. The alert PushringDiscoveryDrift compares it with up{job="pushgateway"}.',
    labelNames: ['shard', 'replica', 'url'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const shard of cluster.shards.values()) for (const b of shard.backends) this.set({ shard: b.shard, replica: b.replica, url: b.url }, 1);
    },
  });
  new Gauge({
    name: 'pushring_backend_scrape_ok',
    help: "Whether a replica's own scrape (GET /metrics, as Prometheus reads it) answered 200 (1) or not (0) at this front door's last check; no series while the replica has not answered one (down, or not checked yet). A Pushgateway holding inconsistent groups answers 500 while /-/healthy stays 200. The alert PushringBackendScrapeBroken reads it.",
    labelNames: ['shard', 'replica'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const b of cluster.backends) if (b.scrape !== 'unknown') this.set({ shard: b.shard, replica: b.replica }, b.scrape === 'ok' ? 1 : 0);
    },
  });
  const judgeRefusals = new Map<JudgeRefusal, number>();
  let watchedJudge: { seriesHeld(): Promise<number> } | undefined;
  let mismatchedBackends: () => readonly Backend[] = () => [];
  new Counter({
    name: 'pushring_judge_refusals_total',
    help: 'Pushes the front door refused before any backend got them, by reason (an inconsistent one is then recorded on the backends as a checked Pushgateway records it): inconsistent (as a checked Pushgateway would), poison (one a checked Pushgateway 1.5.1 stores while refusing it), invalid_body, body_limit, busy, unavailable (the index did not answer), starting, index_full.',
    labelNames: ['reason'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const [reason, n] of judgeRefusals) this.inc({ reason }, n);
    },
  });
  const drift = new Counter({
    name: 'pushring_judge_drift_repairs_total',
    help: "Records of the judge's index set right from the backends by the reconciler: added (a group the index lacked), replaced, removed (a group no replica holds).",
    labelNames: ['kind'] as const,
    registers: [registry],
  });
  for (const kind of ['added', 'replaced', 'removed']) drift.labels(kind).inc(0);
  const driftPending = new Gauge({
    name: 'pushring_judge_drift_pending',
    help: 'Disagreements between the index and the backends waiting to outlast the writes in flight.',
    registers: [registry],
  });
  new Gauge({
    name: 'pushring_judge_index_series',
    help: "Series the judge's index holds for the whole ring (bounded by judge.maxSeries); absent with judge.mode backends or while the index does not answer.",
    registers: [registry],
    async collect() {
      this.reset();
      const held = await watchedJudge?.seriesHeld().catch(() => undefined);
      if (held !== undefined) this.set(held);
    },
  });
  new Gauge({
    name: 'pushring_backend_judging_mismatch',
    help: 'Replicas whose answers say they run in the other judging mode than judge.mode (a checked Pushgateway answers 200, an unchecked one 202).',
    labelNames: ['shard', 'replica'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const b of mismatchedBackends()) this.set({ shard: b.shard, replica: b.replica }, 1);
    },
  });
  const heals = new Counter({
    name: 'pushring_scrape_heals_total',
    help: "Groups the reconciler set right on replicas whose scrape was broken: removed (deleted from the replica), copied_from_twin (replaced by the twin's consistent copy).",
    labelNames: ['shard', 'action'] as const,
    registers: [registry],
    collect() {
      // Every shard's series exist from the start, so that increase() sees the first heal.
      for (const shard of cluster.shards.keys()) for (const action of ['removed', 'copied_from_twin']) this.inc({ shard, action }, 0);
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

  const hintCounter = new Counter({
    name: 'pushring_hints_total',
    help: 'Hints (writes a replica missed): queued, dropped (over the bounds), replayed, superseded (a copy from a trusted twin replaced them).',
    labelNames: ['event'] as const,
    registers: [registry],
  });
  const repairs = new Counter({
    name: 'pushring_reconcile_actions_total',
    help: 'Reconciler actions done: copied (repaired), deleted (gone from the trusted replicas), expired, moved (copied to a new owner in a ring change), stray_deleted (left on an old owner), failed.',
    labelNames: ['action'] as const,
    registers: [registry],
  });
  const passes = new Counter({ name: 'pushring_reconcile_passes_total', help: 'Reconciler passes run.', registers: [registry] });
  const passDuration = new Gauge({ name: 'pushring_reconcile_pass_duration_seconds', help: 'Duration of the last reconciler pass.', registers: [registry] });
  const outOfSync = new Gauge({ name: 'pushring_replicas_out_of_sync', help: 'Replicas the last reconciler pass found out of sync.', registers: [registry] });
  const misplaced = new Gauge({
    name: 'pushring_ring_change_misplaced_groups',
    help: 'Groups the last reconciler pass found on a shard that does not own them (0 once a ring change is complete).',
    registers: [registry],
  });
  const unsettled = new Gauge({
    name: 'pushring_ring_change_unsettled_groups',
    help: 'Moving groups the last reconciler pass found not yet on every replica of their new owner.',
    registers: [registry],
  });
  const changePhase = new Gauge({
    name: 'pushring_ring_change_phase',
    help: 'The phase of the ring change the last reconciler pass carried out: none, copy, hold or delete (docs/resizing.md).',
    labelNames: ['phase'] as const,
    registers: [registry],
  });
  let suspectStore: SuspectStore | undefined;
  const reloads = new Counter({
    name: 'pushring_config_reloads_total',
    help: 'Configuration changes seen by this front door: applied, refused (could lose groups), invalid (last good kept).',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  const lastReload = new Gauge({
    name: 'pushring_config_last_reload_successful',
    help: '1 when the last configuration change seen was applied (or none was seen), 0 otherwise.',
    registers: [registry],
  });
  lastReload.set(1);
  new Gauge({
    name: 'pushring_ring_info',
    help: 'The ring in force: its version (a hash of the owning shards and weights) and phase (steady, or dual while a change is applied).',
    labelNames: ['version', 'phase'] as const,
    registers: [registry],
    collect() {
      this.reset();
      this.set({ version: cluster.version, phase: cluster.phase }, 1);
    },
  });
  new Gauge({
    name: 'pushring_replicas_suspect',
    help: 'Replicas that may have missed writes and are not yet found in sync again.',
    registers: [registry],
    collect() {
      this.set(suspectStore?.count() ?? 0);
    },
  });

  // Credential names come from the configuration (plus `anonymous`, `unknown`): bounded by it.
  const authRefusals = new Map<string, { credential: string; reason: AuthRefusal; n: number }>();
  let authState: { throttledAddresses(): number; unreadableSecrets(): number } | undefined;
  new Counter({
    name: 'pushring_auth_refusals_total',
    help: 'Requests refused by auth, by credential (a configured name; anonymous: none presented; unknown: a malformed header, a secret that matched nothing, or one not checked because its address is throttled) and reason: unauthenticated (401), forbidden (403, out of scope), throttled (429, too many failed authentications from the address).',
    labelNames: ['credential', 'reason'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const { credential, reason, n } of authRefusals.values()) this.inc({ credential, reason }, n);
    },
  });
  new Gauge({
    name: 'pushring_auth_throttled_addresses',
    help: 'Client addresses over auth.failures.perAddress failed authentications in their window: their requests get 429.',
    registers: [registry],
    collect() {
      this.set(authState?.throttledAddresses() ?? 0);
    },
  });
  new Gauge({
    name: 'pushring_auth_secrets_unreadable',
    help: 'Credentials whose secret (file or environment variable) cannot be read now: they match nothing until it can. The front door log names where.',
    registers: [registry],
    collect() {
      this.set(authState?.unreadableSecrets() ?? 0);
    },
  });

  const adminCalls = new Counter({
    name: 'pushring_admin_calls_total',
    help: 'Administrative delete calls (PUT /api/v1/admin/wipe, DELETE /api/v1/admin/jobs/...), by call and how they ended.',
    labelNames: ['call', 'outcome'] as const,
    registers: [registry],
  });
  const adminDeletes = new Counter({
    name: 'pushring_admin_deletes_total',
    help: 'Groups administrative calls deleted, or failed to delete, by call and result.',
    labelNames: ['call', 'result'] as const,
    registers: [registry],
  });

  const countReplica = (backend: Backend, outcome: ReplicaOutcome): void => {
    let byOutcome = replicaCounts.get(backend);
    if (byOutcome === undefined) replicaCounts.set(backend, (byOutcome = new Map<ReplicaOutcome, number>()));
    byOutcome.set(outcome, (byOutcome.get(outcome) ?? 0) + 1);
  };

  return {
    registry,
    hints: {
      queued: () => hintCounter.labels('queued').inc(),
      dropped: (n) => hintCounter.labels('dropped').inc(n),
      replayed: (n) => hintCounter.labels('replayed').inc(n),
      superseded: (n) => hintCounter.labels('superseded').inc(n),
    },
    judgeRefused(reason) {
      judgeRefusals.set(reason, (judgeRefusals.get(reason) ?? 0) + 1);
    },
    watchJudge(judge, mismatched) {
      watchedJudge = judge;
      mismatchedBackends = mismatched;
    },
    authRefused(credential, reason) {
      const key = `${reason} ${credential}`;
      const entry = authRefusals.get(key);
      if (entry !== undefined) entry.n++;
      else authRefusals.set(key, { credential, reason, n: 1 });
    },
    watchAuth(state) {
      authState = state;
    },
    adminCall(call, outcome, deleted, failed) {
      adminCalls.inc({ call, outcome });
      if (deleted > 0) adminDeletes.inc({ call, result: 'deleted' }, deleted);
      if (failed > 0) adminDeletes.inc({ call, result: 'failed' }, failed);
    },
    passDone(report) {
      passes.inc();
      if (report.drift !== undefined) {
        drift.labels('added').inc(report.drift.added);
        drift.labels('replaced').inc(report.drift.replaced);
        drift.labels('removed').inc(report.drift.removed);
        driftPending.set(report.drift.pending);
      }
      passDuration.set(report.durationMs / 1000);
      outOfSync.set(report.outOfSync);
      repairs.labels('copied').inc(report.copied);
      repairs.labels('deleted').inc(report.deletedAway);
      repairs.labels('expired').inc(report.expired);
      repairs.labels('moved').inc(report.moved);
      repairs.labels('stray_deleted').inc(report.straysDeleted);
      repairs.labels('failed').inc(report.failed);
      for (const heal of report.heals ?? []) heals.inc({ shard: heal.shard, action: heal.action });
      misplaced.set(report.misplaced);
      unsettled.set(report.unsettled);
      changePhase.reset();
      changePhase.labels(report.phase).set(1);
    },
    watchSuspects(suspects) {
      suspectStore = suspects;
    },
    reloaded(result) {
      reloads.labels(result).inc();
      lastReload.set(result === 'applied' ? 1 : 0);
    },
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
      // Methods and statuses are a small fixed set: the key set is bounded.
      const key = method + status;
      const entry = pushCounts.get(key);
      if (entry !== undefined) entry.n++;
      else pushCounts.set(key, { method, code: String(status), n: 1 });
    },
    observer: {
      replicaResult(backend: Backend, result: ReplicaResult) {
        countReplica(backend, classify(result));
      },
      replicaSkipped(backend: Backend) {
        countReplica(backend, 'skipped_down');
      },
    },
  };
}

function classify(result: ReplicaResult): ReplicaOutcome {
  if (!isAnswer(result)) return result.failure;
  if (result.status < 300) return 'stored';
  return result.status < 500 ? 'rejected' : 'server_error';
}
