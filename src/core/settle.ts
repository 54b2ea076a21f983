/**
 * When a ring change moves on (docs/resizing.md, "Settling"): from what the reconciler knows of
 * this pass and the one before it, whether the change settles (front doors may stop writing the
 * old owners), closes (no stray copy left), or waits. Settling is the one decision that can lose
 * data, so every clause below is needed; test/unit/settle.test.ts has a row for each.
 *
 * Settled when two passes in a row ran while every front door wrote both owners and the second
 * found nothing to do: a push that reached the old owner alone happened before the first pass
 * read it, so a difference it left was seen by both (and copied); the groups the first pass
 * copied or deleted are equal on both sides now; and any other difference is a push read on one
 * side and not yet on the other, which reaches both.
 */
import type { ChangePhase } from './ring-change.js';

/** A move a pass carried out: on which replica, and for a copy each metric family's digest as copied. */
export interface Acted {
  readonly on: string;
  readonly canonical: string;
  /** Absent: a delete from the new owner. */
  readonly copied?: ReadonlyMap<string, string>;
}

/** One pass of a change, as the next pass looks back on it. */
export interface ChangePass {
  readonly id: string;
  /** Every live front door wrote both owners (for longer than a write may take) when it started. */
  readonly everyoneDual: boolean;
  /** Its confirmed moves, carried out or not. */
  readonly acted: readonly Acted[];
}

/** What makes a pass complete: it saw everything a moved push could be on. */
export interface Completeness {
  readonly everyReplicaRead: boolean;
  /** The ring did not change during the pass. */
  readonly ringUnchanged: boolean;
  /** No difference went unremembered (the memory of differences is bounded). */
  readonly everyDifferenceRemembered: boolean;
  /** Every shard of the ring the change comes from is configured here (one missing was never read). */
  readonly oldShardsKnown: boolean;
}

export interface SettleFacts {
  readonly phase: ChangePhase;
  /** This pass; undefined when this reconciler carries no change out. */
  readonly pass: ChangePass | undefined;
  /** The previous pass of this reconciler; forgotten when the lease moved to it. */
  readonly previous: ChangePass | undefined;
  readonly complete: Completeness;
  /** Groups held outside their owner. */
  readonly misplaced: number;
  /** Some group the previous pass moved may have lost a race (see hasRacedCopy). */
  readonly stillRaced: boolean;
}

export type ChangeStep = 'settle' | 'close' | 'wait';

/** The step to take, and the pass the next one looks back on (none outside the copy phase). */
export function decideChangeStep(facts: SettleFacts): { step: ChangeStep; remember: ChangePass | undefined } {
  const { phase, pass, previous, complete } = facts;
  const whole = complete.everyReplicaRead && complete.ringUnchanged && complete.everyDifferenceRemembered && complete.oldShardsKnown;
  if (pass === undefined || phase !== 'copy') {
    const close = pass !== undefined && phase === 'delete' && whole && facts.misplaced === 0;
    return { step: close ? 'close' : 'wait', remember: undefined };
  }
  const settle =
    previous !== undefined && previous.id === pass.id && previous.everyoneDual && pass.everyoneDual && pass.acted.length === 0 && whole && !facts.stillRaced;
  return { step: settle ? 'settle' : 'wait', remember: pass };
}

/**
 * A group the previous pass copied holds the change back while its copy may have lost a race
 * with a newer push: some metric family still as copied on the target, where the old owner now
 * holds something else for it. (A family changed on the target since took a newer push.) A
 * group it deleted from the new owner holds it back while it still differs.
 */
export function hasRacedCopy(
  acted: readonly Acted[],
  /** Moving groups whose new owner's replicas do not all hold what the old owner holds. */
  unsettled: ReadonlySet<string>,
  /** Each family's digest on a replica, undefined when it lacks the group. */
  familiesOn: (replica: string, canonical: string) => ReadonlyMap<string, string> | undefined,
  /** The families of each copy on the old owner's replicas (an empty map where one lacks it). */
  oldOwnerCopies: (canonical: string) => ReadonlyArray<ReadonlyMap<string, string>>,
): boolean {
  return acted.some((a) => {
    if (!unsettled.has(a.canonical)) return false;
    const copied = a.copied;
    if (copied === undefined) return true;
    const target = familiesOn(a.on, a.canonical);
    const authority = oldOwnerCopies(a.canonical);
    const names = new Set([...copied.keys(), ...(target?.keys() ?? []), ...authority.flatMap((f) => [...f.keys()])]);
    return [...names].some((name) => target?.get(name) === copied.get(name) && authority.some((f) => f.get(name) !== copied.get(name)));
  });
}
