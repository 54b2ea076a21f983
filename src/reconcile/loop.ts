/**
 * A front door's reconcile loop: a pass every interval while it holds the lease (one reconciler
 * at a time across front doors); a pass never overlaps the next; kick() brings the next pass
 * forward; stop() waits for the current pass and releases the lease.
 */
import type { Lease } from './lease.js';
import type { PassReport, Reconciler } from './reconciler.js';

export interface ReconcileLoop {
  kick(): void;
  stop(): Promise<void>;
}

export interface ReconcileLoopLog {
  info(details: object, message: string): void;
  debug(details: object, message: string): void;
  error(details: object, message: string): void;
}

export interface ReconcileLoopOptions {
  readonly reconciler: Pick<Reconciler, 'pass' | 'forget'>;
  readonly lease: Lease;
  readonly intervalMs: number;
  readonly onPass: (report: PassReport) => void;
  readonly log: ReconcileLoopLog;
}

export function startReconcileLoop(options: ReconcileLoopOptions): ReconcileLoop {
  const { reconciler, lease, intervalMs, onPass, log } = options;
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
      if (report.copied + report.deletedAway + report.expired + report.failed > 0) log.info(summary, 'reconcile pass repaired replicas');
      else log.debug(summary, 'reconcile pass: replicas in sync');
    })()
      .catch((err: Error) => log.error({ err: err.message }, 'reconcile pass failed'))
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
