/**
 * Which replicas may have missed writes, and since when. The write path marks a replica when a
 * write to it was skipped or failed; the reconciler marks a restarted replica and every replica
 * it copies to, and clears a mark once a pass that started after the latest mark finds the replica
 * in sync. In this process's memory: one entry per replica of the configuration, so bounded by
 * the ring's size.
 */
export interface SuspectStore {
  /** Marks `replica` suspect at `at` (ms); the first mark of an incident stays its start. */
  mark(replica: string, at: number): void;
  /** Since when `replica` is suspect, or undefined. */
  since(replica: string): number | undefined;
  /** Clears the mark, unless the replica was marked again at or after `passStart`. */
  clear(replica: string, passStart: number): void;
  /** How many replicas are suspect. */
  count(): number;
}

export function createSuspectStore(): SuspectStore {
  const marks = new Map<string, { since: number; last: number }>();
  return {
    mark(replica, at) {
      const current = marks.get(replica);
      marks.set(replica, { since: current?.since ?? at, last: Math.max(current?.last ?? at, at) });
    },
    since: (replica) => marks.get(replica)?.since,
    clear(replica, passStart) {
      const current = marks.get(replica);
      if (current !== undefined && current.last < passStart) marks.delete(replica);
    },
    count: () => marks.size,
  };
}
