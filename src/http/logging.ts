/**
 * What the write path tells logs and the reconciler about replicas: failures (throttled) and
 * missed writes (marked suspect, kept as hints).
 */
import type { FastifyBaseLogger } from 'fastify';
import { isAnswer, type Backend, type OutgoingRequest, type ReplicaResult } from '../backends/client.js';
import type { HintStore } from '../reconcile/hints.js';
import type { SuspectStore } from '../reconcile/suspects.js';
import type { WriteObserver } from '../write/fan-out.js';

export function combineObservers(...observers: WriteObserver[]): WriteObserver {
  return {
    replicaResult(backend, result, request) {
      for (const o of observers) o.replicaResult(backend, result, request);
    },
    replicaSkipped(backend, request) {
      for (const o of observers) o.replicaSkipped(backend, request);
    },
  };
}

/**
 * True at most once per key per interval: a replica or shard that fails every push would
 * otherwise write a log line per push. Keys are backends and shard names: a bounded set.
 */
export function createThrottle(intervalMs: number): (key: unknown) => boolean {
  const lastLogged = new Map<unknown, number>();
  return (key) => {
    const now = Date.now();
    if (now - (lastLogged.get(key) ?? 0) < intervalMs) return false;
    lastLogged.set(key, now);
    return true;
  };
}

/**
 * When a write may not have reached a replica: marks it suspect (the reconciler repairs it) and
 * keeps the write as a hint for replay.
 */
export function createMissedWriteLog(suspects: SuspectStore, hints: HintStore | undefined): WriteObserver {
  const missed = (backend: Backend, request: OutgoingRequest): void => {
    suspects.mark(backend.id, Date.now());
    hints?.add(backend.id, {
      group: request.group,
      method: request.method,
      path: request.path,
      headers: request.headers,
      body: request.body,
      at: request.receivedAt,
    });
  };
  return {
    replicaResult(backend, result, request) {
      if (!isAnswer(result) || result.status >= 500) missed(backend, request);
    },
    replicaSkipped: missed,
  };
}

/** Logs replica failures (throttled); a replica going down is logged by its health change. */
export function createFailureLog(log: FastifyBaseLogger, shouldLog: (key: unknown) => boolean): WriteObserver {
  return {
    replicaResult(backend: Backend, result: ReplicaResult) {
      if (isAnswer(result) && result.status < 500) return;
      if (!shouldLog(backend)) return;
      const detail = isAnswer(result)
        ? { status: result.status, body: result.body.toString('utf8', 0, 200) }
        : { failure: result.failure, error: result.error?.message };
      log.warn({ shard: backend.shard, replica: backend.replica, url: backend.url, ...detail }, 'replica write failed');
    },
    replicaSkipped() {},
  };
}
