/**
 * The judge as the push path uses it: the judge service over its store, and the index built
 * from every backend before the first push is judged. Built again after a ring change (a shard
 * that joins may hold groups the index has not seen). Only groups the index lacks are added: while
 * pushes flow, a record may be ahead of what a backend was read to hold (a write in flight), and
 * replacing it is the drift check's business, which waits for writes in flight.
 */
import type { Backend } from '../backends/client.js';
import { SERIES_COUNT_FIELD, storedGroupOf, type StoredGroup } from '../core/judge.js';
import type { JudgeConfig } from '../config/schema.js';
import { createMemoryIndexStore, type IndexStore } from './index-store.js';
import { createJudge, type BuildReport, type Judge } from './judge-service.js';

export interface IndexJudge extends Pick<Judge, 'judge' | 'recordFailure' | 'undo' | 'settle'> {
  /** Resolves true once the index holds what the backends held at start; false after `timeoutMs`. */
  ready(timeoutMs: number): Promise<boolean>;
  /** Series the index holds for the whole ring (self-metrics). */
  seriesHeld(): Promise<number>;
}

export interface BuildEvents {
  /** A backend could not be read to the end; its groups are read again by the next build or checked by the reconciler. */
  backendFailed(backend: Backend, error: Error): void;
  built(report: BuildReport & { readonly failedBackends: number; readonly ms: number }): void;
  /** The index itself could not be written (Redis down): pushes wait, and the next one tries again. */
  failed(error: Error): void;
}

export interface StartingJudge extends IndexJudge, Pick<Judge, 'buildIndex'> {
  /**
   * Reads every backend (or `only` these: the replicas of shards that joined the ring) into the
   * index; pushes wait for the first build, and for one of joining shards.
   */
  build(only?: readonly Backend[]): Promise<void>;
}

/** How long after a failed build (Redis down at start, say) the next push may start another. */
const RETRY_MS = 1_000;

export function createIndexJudge(judge: Judge, store: Pick<IndexStore, 'read'>, backends: () => readonly Backend[], events: BuildEvents): StartingJudge {
  let first: Promise<void> | undefined;
  let built = false;
  let building: Promise<void> = Promise.resolve();
  /** When the last build failed: the next one waits RETRY_MS, so pushes do not start a read of every backend each. */
  let failedAt = -Infinity;

  const buildOnce = async (from: readonly Backend[]): Promise<void> => {
    const started = Date.now();
    let failedBackends = 0;
    async function* groups(): AsyncGenerator<StoredGroup> {
      for (const backend of from) {
        try {
          for await (const api of backend.streamGroups()) yield storedGroupOf(api);
        } catch (err) {
          failedBackends++;
          events.backendFailed(backend, err as Error);
        }
      }
    }
    const report = await judge.buildIndex(groups(), { onlyAbsent: true });
    // Marked even when a shard could not be read: one dead shard must not stop every push; the
    // reconciler's drift check adds its groups once it answers.
    await judge.markBuilt();
    events.built({ ...report, failedBackends, ms: Date.now() - started });
  };

  const build = (only?: readonly Backend[]): Promise<void> => {
    // One build at a time; a ring change during one builds again after it.
    const run = (): Promise<void> => buildOnce(only ?? backends());
    building = building.then(run, run);
    // Reading shards that joined the ring holds pushes back too: judged before, a push could take
    // a name one of their groups holds.
    if (only !== undefined && only.length > 0) {
      built = false;
      first = undefined;
    }
    if (first === undefined) {
      first = building.then(
        () => {
          built = true;
        },
        (err: Error) => {
          events.failed(err);
          first = undefined;
          failedAt = Date.now();
        },
      );
    }
    return building;
  };

  return {
    async judge(write) {
      const judgement = await judge.judge(write);
      if (!judgement.ok && judgement.kind === 'unbuilt' && built) {
        // Lost (Redis restarted empty, or the index was deleted): build it again; pushes wait.
        built = false;
        first = undefined;
        void build().catch(() => undefined);
      }
      return judgement;
    },
    recordFailure: (write, refusal) => judge.recordFailure(write, refusal),
    undo: (accepted) => judge.undo(accepted),
    settle: (accepted) => judge.settle(accepted),
    buildIndex: (groups, options) => judge.buildIndex(groups, options),
    seriesHeld: async () => Number((await store.read([SERIES_COUNT_FIELD]))[0] ?? '0'),
    build,
    async ready(timeoutMs) {
      if (built) return true;
      // Until built or out of time: a failed build (Redis not answering yet) is tried again, at
      // most once every RETRY_MS, however many pushes wait.
      const deadline = Date.now() + timeoutMs;
      while (!built) {
        const left = deadline - Date.now();
        if (left <= 0) return false;
        if (first === undefined) {
          const pause = failedAt + RETRY_MS - Date.now();
          if (pause > 0) {
            await sleep(Math.min(pause, left));
            continue;
          }
          void build().catch(() => undefined);
        }
        await Promise.race([first, sleep(left)]);
      }
      return true;
    },
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

const SILENT: BuildEvents = { backendFailed() {}, built() {}, failed() {} };

/** A judge over `store` (in memory by default) that builds its index from `backends`. */
export function createStartingJudge(
  config: Pick<JudgeConfig, 'maxSeries'>,
  backends: () => readonly Backend[],
  options: { readonly store?: IndexStore; readonly events?: BuildEvents } = {},
): StartingJudge {
  const store = options.store ?? createMemoryIndexStore();
  const judge = createJudge({ store, limits: { maxSeries: config.maxSeries } });
  return createIndexJudge(judge, store, backends, options.events ?? SILENT);
}
