/**
 * When the judge's index and the backends disagree about a group (docs/judging.md, "The index
 * stays true"), and when it is safe to make the index say what the backends hold.
 *
 * The index is recorded before a write reaches the backends, so it is ahead of them for as long
 * as a write is in flight (at most pushLagMs). A disagreement is acted on only once it has lasted
 * longer than that, with the index's record unchanged meanwhile: then no write in flight explains
 * it (a write that no replica stored and whose undo failed, a backend changed behind pushring's
 * back, a restart that lost groups). A group the backends hold and the index lacks is added at
 * once: adding only makes the judge stricter.
 */

/** What one pass saw of a group. */
export interface DriftObservation {
  /** The index's record of the group (its GROUP_FIELD_PREFIX field), undefined when absent. */
  readonly record: string | undefined;
  /** The records the group's replicas imply (one per replica holding it), empty when none holds it. */
  readonly held: readonly string[];
  /** False when some replica that may hold the group could not be read this pass. */
  readonly complete: boolean;
  /** When the pass began reading the backends (ms). */
  readonly readAt: number;
}

/** A disagreement seen before: the index's record then, and when it was first seen. */
export interface PendingDrift {
  readonly record: string | undefined;
  readonly since: number;
}

export type DriftAction =
  | { readonly kind: 'agree' }
  /** Add the group's record (the index lacks it). */
  | { readonly kind: 'add' }
  /** Seen for the first time, or the record changed since: wait. */
  | { readonly kind: 'wait'; readonly pending: PendingDrift }
  /** The disagreement outlasted every write in flight: make the index hold `held[0]`'s group, or forget it when none holds it. */
  | { readonly kind: 'replace' }
  | { readonly kind: 'forget' };

/** `now` is when the disagreement is looked at; `lagMs` how long a write may stay in flight. */
export function decideDrift(seen: DriftObservation, pending: PendingDrift | undefined, now: number, lagMs: number): DriftAction {
  const { record, held } = seen;
  if (record !== undefined && held.includes(record)) return { kind: 'agree' };
  if (record === undefined) {
    if (held.length === 0) return { kind: 'agree' };
    return { kind: 'add' };
  }
  // The index holds a record no replica matches (or holds the group that no replica holds).
  if (held.length === 0 && !seen.complete) return { kind: 'agree' };
  // Confirmed only by a read that began after every write in flight at the first sighting ended.
  if (pending !== undefined && pending.record === record && seen.readAt >= pending.since + lagMs) {
    return held.length === 0 ? { kind: 'forget' } : { kind: 'replace' };
  }
  if (pending !== undefined && pending.record === record) return { kind: 'wait', pending };
  return { kind: 'wait', pending: { record, since: now } };
}
