/**
 * Fixed-window counters in this process. Bounded: at most `maxKeys` windows are kept; past that,
 * expired windows are swept and, if still full, the oldest are forgotten (which errs towards
 * letting pushes through, never towards refusing them).
 */
import type { Rule } from './rules.js';
import type { Decision, WindowStore } from './store.js';

interface Window {
  count: number;
  readonly endsAt: number;
}

export interface MemoryStoreOptions {
  readonly maxKeys: number;
  readonly now?: () => number;
  /** Told each time a window is forgotten to stay within maxKeys. */
  readonly onEvict?: () => void;
}

export interface MemoryStore extends WindowStore {
  /** consume() without a promise: the in-memory path of a push allocates no microtask. */
  consumeNow(rule: Rule, job: string): Decision;
  size(): number;
}

export function createMemoryStore(options: MemoryStoreOptions): MemoryStore {
  const now = options.now ?? Date.now;
  const windows = new Map<string, Window>();
  // No window ends before this: while full of live windows, a new job skips the sweep (which
  // would find nothing) and evicts at once, rather than scanning every window each time.
  let earliestEnd = Infinity;

  const makeRoom = (at: number): void => {
    if (at >= earliestEnd) {
      earliestEnd = Infinity;
      for (const [key, w] of windows) {
        if (w.endsAt <= at) windows.delete(key);
        else earliestEnd = Math.min(earliestEnd, w.endsAt);
      }
    }
    // Map iteration is insertion order: the oldest windows go first.
    for (const key of windows.keys()) {
      if (windows.size < options.maxKeys) break;
      windows.delete(key);
      options.onEvict?.();
    }
  };

  const consumeNow = (rule: Rule, job: string): Decision => {
    const at = now();
    const key = `${rule.name}\u0000${job}`;
    let w = windows.get(key);
    if (w === undefined || w.endsAt <= at) {
      if (w !== undefined) windows.delete(key);
      else if (windows.size >= options.maxKeys) makeRoom(at);
      w = { count: 0, endsAt: at + rule.windowSeconds * 1000 };
      windows.set(key, w);
      earliestEnd = Math.min(earliestEnd, w.endsAt);
    }
    w.count++;
    return { allowed: w.count <= rule.pushes, rule, remaining: Math.max(rule.pushes - w.count, 0), resetMs: w.endsAt - at };
  };

  return {
    consumeNow,
    consume: async (rule, job) => consumeNow(rule, job),
    async close() {
      windows.clear();
    },
    size: () => windows.size,
  };
}
