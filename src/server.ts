/**
 * The process around the front door: logger, listen, health checks, signals, graceful close.
 * The only module besides the bin that touches `process`.
 */
import pino from 'pino';
import { createCluster, ringVersion, startHealthChecks, type Cluster } from './backends/cluster.js';
import { watchConfig, type ConfigWatcher } from './config/watch.js';
import { pushLagMs, routingAfterBegin } from './core/ring-change.js';
import { parseListen } from './config/load.js';
import type { Config } from './config/schema.js';
import { writeFileAtomically } from './discovery/file-sd.js';
import { buildTargets, formatTargets } from './discovery/targets.js';
import { buildApp } from './http/app.js';
import { createSelfMetrics } from './http/self-metrics.js';
import { createMemoryHintStore, createRedisHintStore } from './reconcile/hints.js';
import { createReconciler, type PassReport, type Reconciler } from './reconcile/reconciler.js';
import { ALWAYS_HELD, createRedisLease, type Lease } from './reconcile/lease.js';
import { createLocalTransition, createRedisTransition } from './reconcile/transition.js';
import { createRedisSuspectStore, createSuspectStore } from './reconcile/suspects.js';
import { createRedisClient, waitForRedisReady } from './limits/redis-client.js';
import { createRedisStore } from './limits/redis-store.js';

export interface RunningServer {
  /** The URL clients push to. */
  readonly url: string;
  close(): Promise<void>;
  /** Settles when the server has closed, by a signal or by `close()`. */
  readonly closed: Promise<void>;
}

export async function startServer(
  initialConfig: Readonly<Config>,
  opts: { handleSignals?: boolean; configFile?: { path: string; text: string } } = {},
): Promise<RunningServer> {
  let config = initialConfig;
  const logger = pino({ level: config.log.level, base: { service: 'pushring' } });
  const cluster = createCluster(config);
  const redis = config.redis === undefined ? undefined : createRedisClient(config.redis);
  // Failures reach the log through the limiter, once per incident; this only keeps ioredis from
  // printing its own "unhandled error event" line for every reconnection attempt.
  redis?.on('error', (err: Error) => logger.debug({ err: err.message }, 'redis connection error'));
  const suspects = redis === undefined ? createSuspectStore() : createRedisSuspectStore(redis, config.redis!.keyPrefix);
  const metrics = createSelfMetrics(cluster);
  metrics.watchSuspects(suspects);
  const hints =
    redis === undefined
      ? createMemoryHintStore(config.reconcile.hints, metrics.hints)
      : createRedisHintStore(redis, config.redis!.keyPrefix, config.reconcile.hints.maxPerReplica, metrics.hints);
  const sharedLimitStore = redis === undefined ? undefined : createRedisStore(redis, config.redis!.keyPrefix);
  let targets = formatTargets(buildTargets(config));
  const app = buildApp({
    config,
    cluster,
    logger,
    suspects,
    hints,
    metrics,
    targets: () => targets,
    ...(sharedLimitStore === undefined ? {} : { sharedLimitStore }),
  });
  // Front doors coordinate ring changes through Redis when live resizing is on.
  const lagMs = pushLagMs(config.write.timeoutMs);
  const transition =
    redis === undefined || !config.reload.liveResize
      ? createLocalTransition(cluster, lagMs)
      : createRedisTransition({ client: redis, keyPrefix: config.redis!.keyPrefix, cluster, config: () => config, warn: (message) => logger.warn(message), lagMs });
  // Started only once listening; shutDown stops whatever was started.
  const background: { health?: { stop(): void }; loop?: { stop(): Promise<void>; kick(): void }; watcher?: ConfigWatcher } = {};

  // Drain first (the app stops accepting and finishes in-flight pushes while probes still run,
  // so a replica that hangs meanwhile is released), then stop the background work, then sockets.
  const shutDown = async (): Promise<void> => {
    try {
      await app.close();
    } finally {
      background.watcher?.stop();
      background.health?.stop();
      await background.loop?.stop();
      await transition.stop();
      await cluster.close();
      redis?.disconnect();
    }
  };

  let address: string;
  try {
    // One round of probes before listening, so the first pushes already skip dead replicas.
    await cluster.probeAll();
    if (redis !== undefined && !(await waitForRedisReady(redis, config.redis!.connectTimeoutMs * 2))) {
      logger.warn({ policy: config.limits.onStoreError }, 'Redis is not reachable yet: starting anyway; rate limits follow limits.onStoreError until it is');
    }
    if (config.discovery.file !== undefined) {
      const changed = await writeFileAtomically(config.discovery.file, targets);
      logger.info({ file: config.discovery.file, changed }, 'file_sd targets written');
    }
    await transition.start().catch((err: Error) =>
      logger.warn({ err: err.message }, 'cannot read the ring change under way from Redis: starting on this file\'s ring; a change in progress is joined once Redis answers'),
    );
    if (config.reload.liveResize && config.reconcile.intervalSeconds === 0 && redis === undefined) {
      logger.warn('reconcile.intervalSeconds is 0: this front door never moves groups, so a ring change applied live never completes (and the next one is refused)');
    }
    const { host, port } = parseListen(config.listen)!;
    address = await app.listen({ host, port });
  } catch (err) {
    // Nothing may keep the process alive after a failed start (a port in use, say).
    await shutDown().catch(() => undefined);
    throw err;
  }
  background.health = startHealthChecks(cluster, config.health.intervalMs);
  const reconciler = createReconciler({
    cluster,
    config: config.reconcile,
    suspects,
    hints,
    transition,
    migrate: config.reload.liveResize,
    events: {
      restarted: (replica) => logger.warn({ replica }, 'replica restarted (new start_time): refilling it from its twin'),
      actionFailed: (action, error) => logger.warn({ action, error }, 'repair action failed; the next pass retries it'),
      hintsReplayed: metrics.hints.replayed,
      hintsSuperseded: metrics.hints.superseded,
      migrationSettled: () => logger.info({ version: cluster.version }, 'ring change: every moved group is on its owner; writing the new owners only'),
    },
  });
  if (config.reconcile.intervalSeconds > 0) {
    const intervalMs = config.reconcile.intervalSeconds * 1000;
    const lease = redis === undefined ? ALWAYS_HELD : createRedisLease(redis, config.redis!.keyPrefix, Math.max(3 * intervalMs, 10_000));
    const loop = startReconcileLoop(reconciler, intervalMs, logger, lease, (report) => metrics.passDone(report));
    background.loop = loop;
    // A replica that comes back is repaired at once, not an interval later.
    cluster.onHealthChange((_b, up) => up && loop.kick());
  }

  // Live ring changes: the new ring is applied only if it cannot lose a group (docs/resizing.md).
  /** Applies a reloaded configuration; false when it must wait (it is offered again later). */
  const reload = async (next: Readonly<Config>): Promise<boolean> => {
    const changedRing = ringVersion(next.shards) !== cluster.version;
    // A ring change is recorded before it is applied: other front doors and restarts follow it.
    const removal = await refuseRemoval(config, next, cluster);
    const begun = removal === undefined && changedRing ? await transition.begin(config, next) : undefined;
    const refusal = removal ?? (begun !== undefined && 'refused' in begun ? begun.refused : undefined);
    if (refusal !== undefined) {
      metrics.reloaded('refused');
      logger.error({ reason: refusal }, 'configuration change refused for now; the ring in force keeps serving');
      return false;
    }
    const needsRestart = restartOnlyChanges(config, next);
    if (needsRestart.length > 0) logger.warn({ settings: needsRestart }, 'these settings change only at the next restart');
    cluster.applyRing(next);
    // Caught up: nothing moves. Otherwise the change goes from the ring in force (this front
    // door may have served an older one): the state machine says so from the record just made.
    if (begun !== undefined) {
      await transition.beat().catch(() => {
        const routing = routingAfterBegin(begun);
        if (routing !== undefined) cluster.follow(routing);
      });
    }
    config = { ...config, shards: next.shards, discovery: next.discovery };
    targets = formatTargets(buildTargets(config));
    if (config.discovery.file !== undefined) await writeFileAtomically(config.discovery.file, targets);
    metrics.reloaded('applied');
    logger.info({ version: cluster.version, phase: cluster.phase, shards: cluster.ring.shards }, changedRing ? 'ring change applied: moving groups' : 'configuration reloaded');
    background.loop?.kick();
    return true;
  };
  if (opts.configFile !== undefined && config.reload.liveResize) {
    // From the text the configuration was read from: an edit since then is a change.
    background.watcher = watchConfig(opts.configFile.path, opts.configFile.text, config.reload.intervalSeconds * 1000, {
      changed: (next) =>
        reload(next).catch((err: Error) => {
          logger.error({ err: err.message }, 'reload failed; the ring in force keeps serving');
          return false;
        }),
      invalid: (problems) => {
        metrics.reloaded('invalid');
        logger.error({ problems }, 'the configuration file is not valid; the last good configuration keeps serving');
      },
    });
  }

  let resolveClosed!: () => void;
  const closed = new Promise<void>((resolve) => (resolveClosed = resolve));
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= shutDown()
      .catch((err: Error) => logger.error({ err: err.message }, 'error while closing'))
      .finally(() => {
        logger.info('closed');
        resolveClosed();
      });
    return closing;
  };
  if (opts.handleSignals !== false) {
    const onSignal = (signal: NodeJS.Signals): void => {
      logger.info({ signal }, 'shutting down: finishing in-flight pushes');
      void close();
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }
  logger.info(
    { url: address, shards: cluster.ring.shards, unavailable: cluster.unavailableShards(), limits: redis === undefined ? 'memory' : 'redis' },
    'pushring front door listening',
  );
  return { url: address, close, closed };
}

/**
 * Removing a shard loses its groups unless it was drained first and is empty now. Returns why a
 * change must wait, or undefined.
 */
async function refuseRemoval(current: Readonly<Config>, next: Readonly<Config>, cluster: Cluster): Promise<string | undefined> {
  const kept = new Set(next.shards.map((s) => s.name));
  for (const shard of current.shards) {
    if (kept.has(shard.name)) continue;
    if (!shard.draining) return `shard ${shard.name} was removed without draining it: set draining: true first, wait until it is empty, then remove it`;
    for (const backend of cluster.shards.get(shard.name)?.backends ?? []) {
      const groups = (await backend.groups().catch(() => undefined))?.length;
      if (groups === undefined) return `shard ${shard.name} cannot be checked empty (${backend.url} does not answer); keep it until it can`;
      if (groups > 0) return `shard ${shard.name} still holds ${groups} group(s) on ${backend.url}: wait until draining has moved them`;
    }
  }
  return undefined;
}

/** Settings that a reload does not change (only the ring and discovery do). */
function restartOnlyChanges(current: Readonly<Config>, next: Readonly<Config>): string[] {
  // Both sides' keys: a section removed from the file is a change too.
  const keys = [...new Set([...Object.keys(current), ...Object.keys(next)])] as Array<keyof Config>;
  return keys.filter((k) => k !== 'shards' && k !== 'discovery' && JSON.stringify(current[k]) !== JSON.stringify(next[k]));
}

/**
 * Runs a pass every interval while this front door holds the lease; a pass never overlaps the
 * next; kick() brings the next pass forward; stop() waits for the current one.
 */
function startReconcileLoop(
  reconciler: Reconciler,
  intervalMs: number,
  logger: pino.Logger,
  lease: Lease,
  onPass: (report: PassReport) => void,
): { stop(): Promise<void>; kick(): void } {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;
  const schedule = (delayMs: number): void => {
    if (stopped) return;
    if (timer !== undefined) clearTimeout(timer);
    timer = setTimeout(run, delayMs);
  };
  const run = (): void => {
    timer = undefined;
    running = (async () => {
      if (!(await lease.acquire())) return;
      if (lease.taken) reconciler.forget();
      const report = await reconciler.pass();
      onPass(report);
      const { actions: _actions, ...summary } = report;
      if (report.copied + report.deletedAway + report.expired + report.failed > 0) logger.info(summary, 'reconcile pass repaired replicas');
      else logger.debug(summary, 'reconcile pass: replicas in sync');
    })()
      .catch((err: Error) => logger.error({ err: err.message }, 'reconcile pass failed'))
      .finally(() => {
        running = undefined;
        schedule(intervalMs);
      });
  };
  schedule(intervalMs);
  return {
    kick() {
      // Soon, not at once: the probe that saw it come back may be the first of several.
      if (running === undefined) schedule(200);
    },
    async stop() {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
      await running;
      await lease.release();
    },
  };
}
