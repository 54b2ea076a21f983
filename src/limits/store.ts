/**
 * A counter store for fixed windows: a job's window opens with its first push and lasts the
 * rule's `windowSeconds`; within it, at most `pushes` pushes are allowed. Every store passes
 * test/limits-contract.ts.
 */
import type { Rule } from './rules.js';

export interface Decision {
  readonly allowed: boolean;
  readonly rule: Rule;
  /** Pushes left in the current window after this one. */
  readonly remaining: number;
  /** Milliseconds until the window closes and the count starts again. */
  readonly resetMs: number;
}

export interface WindowStore {
  /** Counts one push of `job` under `rule`. Rejects only when the store itself failed. */
  consume(rule: Rule, job: string): Promise<Decision>;
  close(): Promise<void>;
}
