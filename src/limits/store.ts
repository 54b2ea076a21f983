/**
 * A counter store for fixed windows: a job's window opens with its first push and lasts the
 * rule's `windowSeconds`; within it, at most `pushes` pushes are allowed.
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

/**
 * Fixed-window counters per rule and job. Every implementation keeps this contract;
 * test/contracts/window-store.ts checks it on each of them.
 *
 * Counting: a window of (rule name, job) opens with its first consume() and lasts the rule's
 * `windowSeconds`. Within it the first `pushes` consumes are allowed and every later one is
 * refused (refused ones count too); `remaining` is what is left after this one (0 once refused)
 * and `resetMs` the time until the window closes (0 < resetMs <= windowSeconds * 1000). Once it
 * has closed, the next consume opens a new window. Every pair of rule name and job counts on its
 * own, whatever characters either contains. A rule changed under the same name (a reload) keeps
 * the window under way and judges it by the new `pushes`.
 *
 * Concurrency: exact. Of n concurrent consumes in one window, exactly `pushes` are allowed; with
 * a shared store (Redis), across every front door that uses it with the same key prefix.
 *
 * Bounds: a store may forget windows to stay bounded, and then errs towards allowing pushes,
 * never towards refusing them: the memory store keeps at most `maxKeys` windows (ended ones
 * swept first, then the oldest, each told through `onEvict`); Redis lets each window's key
 * expire when the window ends.
 *
 * Failure: consume() rejects only when the store itself failed (Redis unreachable or too slow),
 * at once rather than queueing; it never resolves a decision it could not make. The limiter then
 * falls back to its own policy (limits.onStoreError). close() forgets what the store built for
 * itself; it never closes a client it was given.
 */
export interface WindowStore {
  /** Counts one push of `job` under `rule`. Rejects only when the store itself failed. */
  consume(rule: Rule, job: string): Promise<Decision>;
  close(): Promise<void>;
}
