/**
 * A front door's reconcile loop: a pass every interval while it holds the lease (one reconciler
 * at a time across front doors); a pass never overlaps the next; kick() brings the next pass
 * forward; stop() waits for the current pass and releases the lease.
 *
 * Missed writes do not wait an interval (reconcile.intervalSeconds may be an hour). While a
 * replica is suspect:
 * - a loop starts with a pass soon (a front door started after one that died with hints and
 *   suspect marks in Redis);
 * - a pass that saw a difference once looks again soon (the reconciler acts on a difference only
 *   when a second look finds it again), once per pass;
 * - a lease found held by another front door is asked for again soon: its holder may have died
 *   holding it, which the lease's time-to-live ends.
 * A replica whose scrape is found broken does not wait an interval either: the pass that heals it
 * comes soon, and while it is still broken with heals left to try (reconcile/heal.ts), the next
 * comes HEAL_RETRY_MS later; a front door without the lease asks for it every LEASE_RETRY_MS.
 *
 * The holder renews the lease between and during passes, so that time-to-live can be short
 * whatever the interval, and a long pass does not lose the lease to a second reconciler.
 *
 * A ring change is carried out only by a reconciler on its new ring. A holder that finds one under
 * way to another ring (it was restarted with another file, or has not reloaded yet) hands the
 * lease over: it releases it and does not ask again for two intervals, time for a front door on
 * that ring to take it; if none does, it takes it back and goes on repairing within shards.
 */
import type { Lease } from './lease.js';
import type { PassReport, Reconciler } from './reconciler.js';

export interface ReconcileLoop {
  kick(): void;
  stop(): Promise<void>;
}

export interface ReconcileLoopLog {
  info(details: object, message: string): void;
  /** Heals and replicas left unhealed; absent: they go to `info`. */
  warn?(details: object, message: string): void;
  debug(details: object, message: string): void;
  error(details: object, message: string): void;
}

export interface ReconcileLoopOptions {
  readonly reconciler: Pick<Reconciler, 'pass' | 'forget'> & Partial<Pick<Reconciler, 'onPassDue' | 'healPending'>>;
  readonly lease: Lease;
  readonly intervalMs: number;
  /** How often the holder renews the lease; absent: only at each pass (a lease without Redis). */
  readonly leaseRenewMs?: number;
  /** True while a replica may have missed writes (a suspect mark), read when scheduling. */
  readonly repairsPending: () => boolean;
  readonly onPass: (report: PassReport) => void;
  readonly log: ReconcileLoopLog;
}

/** Soon, not at once: the probe that saw a replica come back may be the first of several. */
const SOON_MS = 200;
/** A second look: long enough for a push read on one replica and not yet on its twin to land. */
const SECOND_LOOK_MS = 1_000;
const LEASE_RETRY_MS = 5_000;
/** A replica still broken after a heal: its Pushgateway may not have applied every write yet. */
const HEAL_RETRY_MS = 5_000;
/** How many intervals a holder that handed the lease over waits before asking for it again. */
const HAND_OVER_INTERVALS = 2;

export function startReconcileLoop(options: ReconcileLoopOptions): ReconcileLoop {
  const { reconciler, lease, intervalMs, repairsPending, onPass, log } = options;
  const healPending = (): boolean => reconciler.healPending?.() ?? false;
  const warn = (details: object, message: string): void => (log.warn === undefined ? log.info(details, message) : log.warn(details, message));
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;
  /** Kicked while a pass ran: the next one comes soon. */
  let kicked = false;
  /** The pass scheduled next is a second look (at most one per pass). */
  let secondLook = false;
  /** The lease was taken rather than renewed since the last pass: another reconciler may have acted. */
  let forgetDue = false;
  let held = false;
  /** Handed over: no acquire before this time. */
  let standBackUntil = 0;

  // One acquire at a time: `lease.taken` describes the last one.
  let holding: Promise<boolean> = Promise.resolve(false);
  const hold = (): Promise<boolean> =>
    (holding = holding.then(async () => {
      if (Date.now() < standBackUntil) return (held = false);
      held = await lease.acquire();
      if (held && lease.taken) forgetDue = true;
      return held;
    }));
  const renew = (): void => {
    if (held && !stopped) void hold();
  };
  const renewal = options.leaseRenewMs === undefined ? undefined : setInterval(renew, options.leaseRenewMs);
  renewal?.unref();
  const handOver = (): Promise<void> =>
    (holding = holding.then(async () => {
      held = false;
      standBackUntil = Date.now() + HAND_OVER_INTERVALS * intervalMs;
      await lease.release();
      return false;
    })).then(() => undefined);

  const schedule = (delayMs: number): void => {
    if (stopped) return;
    if (timer !== undefined) clearTimeout(timer);
    timer = setTimeout(run, delayMs);
  };
  const soon = (delayMs: number): number => Math.min(intervalMs, delayMs);

  const run = (): void => {
    timer = undefined;
    const isSecondLook = secondLook;
    secondLook = false;
    let next = intervalMs;
    running = (async () => {
      if (!(await hold())) {
        if (repairsPending() || healPending()) next = soon(LEASE_RETRY_MS);
        return;
      }
      if (forgetDue) {
        forgetDue = false;
        reconciler.forget();
      }
      const report = await reconciler.pass();
      onPass(report);
      logHeals(report, warn, log);
      // Shared only with a renewed (Redis) lease: alone, no other front door could take it.
      if (report.changeElsewhere === true && options.leaseRenewMs !== undefined) {
        await handOver();
        log.info(
          { standBackMs: HAND_OVER_INTERVALS * intervalMs },
          'a ring change to a ring this front door does not serve is under way: it hands the reconcile lease over to a front door on that ring',
        );
      }
      if (healPending()) next = soon(HEAL_RETRY_MS);
      const { actions: _actions, heals: _heals, unhealed: _unhealed, ...summary } = report;
      if (report.copied + report.deletedAway + report.expired + report.failed > 0) log.info(summary, 'reconcile pass repaired replicas');
      else log.debug(summary, 'reconcile pass: replicas in sync');
      if (report.deferred > 0 && !isSecondLook && repairsPending()) {
        next = soon(SECOND_LOOK_MS);
        secondLook = true;
      }
    })()
      .catch((err: Error) => log.error({ err: err.message }, 'reconcile pass failed'))
      .finally(() => {
        running = undefined;
        if (kicked) next = soon(SOON_MS);
        kicked = false;
        schedule(next);
      });
  };
  schedule(repairsPending() ? soon(SOON_MS) : intervalMs);

  const kick = (): void => {
    if (running === undefined) schedule(soon(SOON_MS));
    else kicked = true;
  };
  reconciler.onPassDue?.(() => {
    if (!stopped) kick();
  });

  return {
    kick,
    async stop() {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
      if (renewal !== undefined) clearInterval(renewal);
      await running;
      await holding;
      held = false;
      await lease.release();
    },
  };
}

/** One line per heal action (shard, replica, group, why), and one per replica left broken. */
function logHeals(report: PassReport, warn: (details: object, message: string) => void, log: ReconcileLoopLog): void {
  for (const heal of report.heals ?? [])
    warn(heal, `healed a replica whose scrape was broken: ${heal.action === 'removed' ? 'deleted' : 'copied from its twin'} a group`);
  for (const left of report.unhealed ?? []) {
    if (left.retry) warn(left, 'the scrape of a replica is still broken after healing it: the next pass tries again');
    else log.error(left, 'the scrape of a replica is still broken and the reconciler gives up healing it: see docs/reconciler.md#healing-a-broken-scrape');
  }
}
