/**
 * The composition root: the state `serve` and every CLI command share, built once from a
 * configuration and closed once — the Redis client (when configured), the suspect marks, the
 * hints, the rate-limit store, the self-metrics, the cluster, the ring-change transition, the
 * reconcile lease and the reconciler. Nothing else creates a Redis client.
 *
 * Building it starts nothing but the Redis connection (ioredis connects in the background) and,
 * with `beats` (the default), the ring-change heartbeat of a front door. A front door also calls
 * prepare() before it listens and startBackground() once it does; a one-off command uses the
 * parts it needs (`beats: false`) and close().
 */
import pino, { type Logger } from 'pino';
import type { Cluster as RedisCluster, Redis } from 'ioredis';
import { createCluster, startHealthChecks, type Cluster } from './backends/cluster.js';
import type { AuthConfig, Config } from './config/schema.js';
import { pushLagMs } from './core/ring-change.js';
import { writeFileAtomically } from './discovery/file-sd.js';
import { buildTargets, formatTargets } from './discovery/targets.js';
import type { ChangeProgress } from './read/reads.js';
import { createSelfMetrics, type SelfMetrics } from './http/self-metrics.js';
import { createDriftCheck } from './judge/drift-check.js';
import { createStartingJudge, type StartingJudge } from './judge/index-judge.js';
import { createMemoryIndexStore, type IndexStore } from './judge/index-store.js';
import { createRedisIndexStore } from './judge/redis-index-store.js';
import { createRedisClient, waitForRedisReady } from './limits/redis-client.js';
import { createRedisStore } from './limits/redis-store.js';
import type { WindowStore } from './limits/store.js';
import { createMemoryHintStore, createRedisHintStore, type HintStore } from './reconcile/hints.js';
import { ALWAYS_HELD, createRedisLease, type Lease } from './reconcile/lease.js';
import { startReconcileLoop, type ReconcileLoop } from './reconcile/loop.js';
import { createReconciler, type Reconciler, type ReconcilerEvents } from './reconcile/reconciler.js';
import { createRedisSuspectStore, createSuspectStore, type SuspectStore } from './reconcile/suspects.js';
import { createLocalTransition, createRedisTransition, type Transition } from './reconcile/transition.js';

export interface RuntimeOptions {
  /** Where the shared state reports (Redis, ring changes, repairs); default: nowhere. */
  readonly logger?: Logger;
  /**
   * Publish this process's heartbeat in ring changes shared through Redis. Front doors do (the
   * default); a one-off command must not, or it would count as a front door.
   */
  readonly beats?: boolean;
  /** Told when this process cannot follow the ring change under way; default: a logged warning. */
  readonly warn?: (message: string) => void;
  /** The reconciler's events; each one given replaces the runtime's own (a log line, a metric). */
  readonly reconcileEvents?: ReconcilerEvents;
  /**
   * How long the reconcile lease outlives its last renewal. Default 30 s: a front door's loop
   * renews it every third of that; a one-off command renews it only when it acquires it again.
   */
  readonly leaseTtlMs?: number;
}

export interface Runtime {
  /** The configuration in force: the one given, with the ring, discovery and credential list (`auth`) of the last reload applied. */
  readonly config: Readonly<Config>;
  /** The http_sd document (and file_sd content) of the configuration in force. */
  readonly targets: string;
  readonly logger: Logger;
  readonly cluster: Cluster;
  /** The one Redis client, when `redis` is configured. */
  readonly redis: Redis | RedisCluster | undefined;
  readonly suspects: SuspectStore;
  readonly hints: HintStore;
  /** Rate-limit counters shared by every front door (Redis); undefined: counted in this process. */
  readonly limitStore: WindowStore | undefined;
  readonly metrics: SelfMetrics;
  readonly transition: Transition;
  /** Ring changes are coordinated with the other front doors (Redis and reload.liveResize). */
  readonly sharedRingChanges: boolean;
  readonly lease: Lease;
  readonly reconciler: Reconciler;
  /** The index every push is judged against (Redis when configured); its table. */
  readonly index: IndexStore;
  /** With judge.mode `front-door`: the judge over `index`; undefined with `backends`. */
  readonly judge: StartingJudge | undefined;
  /** What this front door's last reconciler pass found of a ring change; undefined when it ran none lately (another holds the lease). */
  changeProgress(): ChangeProgress | undefined;
  /** True once Redis answers (at once without Redis); false after `timeoutMs` (default: twice redis.connectTimeoutMs). */
  redisReady(timeoutMs?: number): Promise<boolean>;
  /**
   * Puts the ring and discovery of a reloaded configuration in force (config/reload.ts, once
   * cluster.applyRing has); other settings change only at a restart.
   */
  useConfig(next: Readonly<Config>): void;
  /**
   * Records a reloaded credential list as the one in force (`config.auth`). The front door's
   * hook switches to it first (server.ts: switchCredentials), so that a list that could not be
   * put in force is not recorded and the next reload check tries it again.
   */
  useAuth(next: Readonly<AuthConfig>): void;
  /**
   * Before a front door takes pushes: one round of probes (the first pushes skip dead replicas),
   * Redis awaited for a while and the marks other front doors left read, file_sd written, the
   * ring change under way joined.
   */
  prepare(): Promise<void>;
  /** Once a front door listens: health checks and, when reconcile.intervalSeconds > 0, the reconcile loop. */
  startBackground(): void;
  /** Brings the next reconcile pass forward (after a reload, say); nothing without a loop. */
  reconcileSoon(): void;
  /**
   * Stops the background work and the heartbeat, releases the lease, closes the replicas'
   * connections and Redis. Call it once nothing uses the runtime any more (after the app has
   * closed); calling it again returns the same promise.
   */
  close(): Promise<void>;
}

const LEASE_TTL_MS = 30_000;

/**
 * The lease as the reconcile loop sees it: refused, it first brings the suspect marks up to date.
 * A front door that never holds the lease runs no pass, so nothing else refreshes them: once the
 * holder's passes cleared its marks, it would still count them and ask for the lease every few
 * seconds for as long as it lives.
 */
function refreshingWhenRefused(lease: Lease, suspects: SuspectStore): Lease {
  return {
    async acquire() {
      if (await lease.acquire()) return true;
      await suspects.refresh?.().catch(() => undefined);
      return false;
    },
    get taken() {
      return lease.taken;
    },
    release: () => lease.release(),
  };
}

export function createRuntime(initialConfig: Readonly<Config>, options: RuntimeOptions = {}): Runtime {
  let config = initialConfig;
  let targets = formatTargets(buildTargets(config));
  const logger = options.logger ?? pino({ enabled: false }, { write: () => undefined });
  const warn = options.warn ?? ((message: string) => logger.warn(message));
  const redisConfig = config.redis;
  const cluster = createCluster(config);
  const redis = redisConfig === undefined ? undefined : createRedisClient(redisConfig);
  // Failures reach the log through the limiter, once per incident; this only keeps ioredis from
  // printing its own "unhandled error event" line for every reconnection attempt.
  redis?.on('error', (err: Error) => logger.debug({ err: err.message }, 'redis connection error'));
  const keyPrefix = redisConfig?.keyPrefix ?? '';
  const metrics = createSelfMetrics(cluster);
  const suspects = redis === undefined ? createSuspectStore() : createRedisSuspectStore(redis, keyPrefix);
  metrics.watchSuspects(suspects);
  const hints =
    redis === undefined
      ? createMemoryHintStore(config.reconcile.hints, metrics.hints)
      : createRedisHintStore(redis, keyPrefix, config.reconcile.hints.maxPerReplica, metrics.hints);
  const limitStore = redis === undefined ? undefined : createRedisStore(redis, keyPrefix);
  const index = redis === undefined ? createMemoryIndexStore() : createRedisIndexStore(redis, keyPrefix);
  const judge =
    config.judge.mode === 'backends'
      ? undefined
      : createStartingJudge(config.judge, () => cluster.backends, {
          store: index,
          events: {
            backendFailed: (b, err) =>
              logger.warn(
                { shard: b.shard, replica: b.replica, err: err.message },
                'judge: cannot read this replica into the index; the reconciler checks it later',
              ),
            built: (report) => logger.info(report, 'judge: index built from the backends'),
            failed: (err) => logger.warn({ err: err.message }, 'judge: cannot build the index (Redis?): pushes wait until it is'),
          },
        });
  const lagMs = pushLagMs(config.write.timeoutMs);
  const sharedRingChanges = redis !== undefined && config.reload.liveResize;
  const transition = sharedRingChanges
    ? createRedisTransition({ client: redis, keyPrefix, cluster, warn, lagMs, beats: options.beats ?? true })
    : createLocalTransition(cluster, lagMs);
  const leaseTtlMs = options.leaseTtlMs ?? LEASE_TTL_MS;
  const lease = redis === undefined ? ALWAYS_HELD : createRedisLease(redis, keyPrefix, leaseTtlMs);
  const driftCheck =
    judge === undefined ? undefined : createDriftCheck({ store: index, judge, lagMs, minIntervalMs: config.reconcile.indexCheckSeconds * 1000 });
  const reconciler = createReconciler({
    cluster,
    ...(driftCheck === undefined ? {} : { driftCheck }),
    config: config.reconcile,
    suspects,
    hints,
    transition,
    migrate: config.reload.liveResize,
    events: {
      restarted: (replica) => logger.warn({ replica }, 'replica restarted (new start_time): refilling it from its twin'),
      actionFailed: (action, error) => logger.warn({ action, error }, 'repair action failed; the next pass retries it'),
      hintsReplayed: (count) => metrics.hints.replayed(count),
      hintsSuperseded: (count) => metrics.hints.superseded(count),
      driftCheckFailed: (error) => logger.warn({ error }, 'judge: the check of the index against the backends failed; the next pass tries again'),
      migrationSettled: () => logger.info({ version: cluster.version }, 'ring change: every moved group is on its owner; writing the new owners only'),
      ...options.reconcileEvents,
    },
  });

  let health: { stop(): void } | undefined;
  let loop: ReconcileLoop | undefined;
  let closing: Promise<void> | undefined;
  const redisReady = async (timeoutMs = (redisConfig?.connectTimeoutMs ?? 0) * 2): Promise<boolean> =>
    redis === undefined || (await waitForRedisReady(redis, timeoutMs));

  /** The suspect marks in Redis have been read once (at start, or by a pass). */
  let marksRead = true;
  let lastPass: ChangeProgress | undefined;
  return {
    get config() {
      return config;
    },
    get targets() {
      return targets;
    },
    logger,
    cluster,
    redis,
    suspects,
    hints,
    limitStore,
    metrics,
    transition,
    sharedRingChanges,
    lease,
    reconciler,
    index,
    judge,
    redisReady,
    useConfig(next) {
      config = { ...config, shards: next.shards, discovery: next.discovery };
      targets = formatTargets(buildTargets(config));
    },
    useAuth(next) {
      config = { ...config, auth: next };
    },
    async prepare() {
      await cluster.probeAll();
      const redisAnswers = await redisReady();
      // Not awaited: pushes wait for it (judge.startTimeoutMs), health and readiness need not.
      // After Redis answers (or gave up waiting): a build against a Redis still connecting fails.
      judge?.build().catch(() => undefined);
      if (!redisAnswers) {
        logger.warn({ policy: config.limits.onStoreError }, 'Redis is not reachable yet: starting anyway; rate limits follow limits.onStoreError until it is');
      }
      // Marks left by front doors gone (one that died, say): the reconcile loop acts on them soon.
      // Unread (Redis not answering yet), they may exist: the loop asks again soon until a pass ran.
      marksRead = await (suspects.refresh?.().then(() => true) ?? Promise.resolve(true)).catch(() => false);
      if (config.discovery.file !== undefined) {
        const changed = await writeFileAtomically(config.discovery.file, targets);
        logger.info({ file: config.discovery.file, changed }, 'file_sd targets written');
      }
      await transition
        .start()
        .catch((err: Error) =>
          logger.warn(
            { err: err.message },
            "cannot read the ring change under way from Redis: starting on this file's ring; a change in progress is joined once Redis answers",
          ),
        );
      if (config.reload.liveResize && config.reconcile.intervalSeconds === 0 && redis === undefined) {
        logger.warn(
          'reconcile.intervalSeconds is 0: this front door never moves groups, so a ring change applied live never completes (and the next one is refused)',
        );
      }
    },
    startBackground() {
      if (closing !== undefined || health !== undefined) return;
      health = startHealthChecks(cluster, config.health.intervalMs);
      if (config.reconcile.intervalSeconds === 0) return;
      const started = startReconcileLoop({
        reconciler,
        lease: refreshingWhenRefused(lease, suspects),
        intervalMs: config.reconcile.intervalSeconds * 1000,
        ...(redis === undefined ? {} : { leaseRenewMs: leaseTtlMs / 3 }),
        repairsPending: () => !marksRead || suspects.count() > 0,
        onPass: (report) => {
          marksRead = true;
          metrics.passDone(report);
          lastPass = { at: Date.now(), phase: report.phase, misplaced: report.misplaced, unsettled: report.unsettled };
        },
        log: logger,
      });
      loop = started;
      // A replica that comes back is repaired at once, not an interval later.
      cluster.onHealthChange((_b, up) => up && started.kick());
    },
    changeProgress() {
      // Older than three intervals: another front door holds the lease, or passes stopped.
      const staleAfter = 3 * config.reconcile.intervalSeconds * 1000;
      return lastPass !== undefined && Date.now() - lastPass.at <= staleAfter ? lastPass : undefined;
    },
    reconcileSoon() {
      loop?.kick();
    },
    close() {
      closing ??= (async () => {
        health?.stop();
        // The loop waits for its pass and releases the lease; a one-off command's lease is released here.
        await (loop?.stop() ?? lease.release());
        await transition.stop();
        await limitStore?.close();
        await index.close();
        await cluster.close();
        redis?.disconnect();
      })();
      return closing;
    },
  };
}
