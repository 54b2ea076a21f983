/**
 * Per-job push limits: the rule of the job, counted in the store (Redis when configured, else
 * memory). When Redis fails, pushes are never refused for it: they are counted by a limiter
 * local to this front door (`onStoreError: local`) or let through (`open`), and the incident is
 * reported once when it starts and once when Redis answers again.
 */
import type { LimitsConfig } from '../config/schema.js';
import { createMemoryStore } from './memory-store.js';
import { createRuleMatcher, type Rule } from './rules.js';
import type { Decision, WindowStore } from './store.js';

export interface LimiterObserver {
  limited(rule: Rule): void;
  /** The shared store failed; called on every failure (for counting). */
  storeFailed(error: Error, firstOfIncident: boolean): void;
  storeRecovered(): void;
  /** The local store forgot a window to stay within maxTrackedJobs. */
  evicted(): void;
}

export interface Limiter {
  /**
   * The decision for one push of `job`, or undefined when no limit applies to it; a promise only
   * when the shared store is asked.
   */
  check(job: string): Decision | undefined | Promise<Decision | undefined>;
  readonly limitDeletes: boolean;
  readonly rules: readonly Rule[];
  close(): Promise<void>;
}

export function createLimiter(limits: LimitsConfig, shared: WindowStore | undefined, observer: LimiterObserver): Limiter | undefined {
  const matcher = createRuleMatcher(limits);
  if (matcher.rules.length === 0) return undefined;
  const local = createMemoryStore({ maxKeys: limits.maxTrackedJobs, onEvict: () => observer.evicted() });
  let failing = false;

  const consumeShared = async (store: WindowStore, rule: Rule, job: string): Promise<Decision | undefined> => {
    try {
      const decision = await store.consume(rule, job);
      if (failing) {
        failing = false;
        observer.storeRecovered();
      }
      return count(decision);
    } catch (err) {
      observer.storeFailed(err as Error, !failing);
      failing = true;
      if (limits.onStoreError === 'open') return undefined;
      return count(local.consumeNow(rule, job));
    }
  };

  const count = (decision: Decision): Decision => {
    if (!decision.allowed) observer.limited(decision.rule);
    return decision;
  };

  return {
    limitDeletes: limits.limitDeletes,
    rules: matcher.rules,
    check(job) {
      const rule = matcher.ruleFor(job);
      if (rule === undefined) return undefined;
      if (shared === undefined) return count(local.consumeNow(rule, job));
      return consumeShared(shared, rule, job);
    },
    async close() {
      await Promise.all([local.close(), shared?.close()]);
    },
  };
}
