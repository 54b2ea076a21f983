/**
 * Moving groups after a ring change (docs/resizing.md). Pure: from what every replica of every
 * shard holds, who owned each group before the change and who owns it now, what to copy and what
 * to delete in the current phase of the change.
 *
 * - `copy`: every front door still writes the old owner X of a moving group first (old ring, or
 *   both owners with X first), so X holds its latest acknowledged state: X is the authority. Every
 *   replica of the new owner Y is made equal to it: a copy where Y lacks the group or holds other
 *   content, a delete where Y holds a moved group X no longer has (a DELETE that reached X only).
 *   Every difference, a missing group included, may be a push read on one shard and not yet on
 *   the other; the reconciler acts on one only when the next pass sees it again (`confirm`).
 * - `hold`: the copies are done, front doors are switching to the new owners alone; Y may now hold
 *   pushes X never gets, so nothing is copied or deleted.
 * - `delete`: every front door writes the new owners alone: every copy outside its owner goes.
 */
import { maxBy, type ReplicaView } from './repair.js';

export interface ShardView {
  readonly name: string;
  readonly replicas: readonly ReplicaView[];
}

export type MigrationPhase = 'copy' | 'hold' | 'delete';

export type MigrationAction =
  /** Copies are made only once the next pass sees the same difference (see the header). */
  | { readonly kind: 'copy'; readonly canonical: string; readonly from: string; readonly to: string }
  /** `confirm`: a difference to see again first (copy phase); false: at once (delete phase). */
  | { readonly kind: 'delete'; readonly canonical: string; readonly on: string; readonly confirm: boolean };

export interface MigrationPlan {
  readonly actions: readonly MigrationAction[];
  /** Groups held by a shard that does not own them. */
  readonly misplaced: number;
  /** Moving groups whose new owner's replicas do not all hold what the old owner holds. */
  readonly unsettled: readonly string[];
}

export interface Ownership {
  /** The owning shard under the ring in force. */
  now(canonical: string): string;
  /** The owning shard under the ring the change comes from. */
  before(canonical: string): string;
}

export function planMigration(shards: readonly ShardView[], owners: Ownership, phase: MigrationPhase): MigrationPlan {
  const byName = new Map(shards.map((s) => [s.name, s]));
  // Every group held outside its owner, and every moving group held by its new owner.
  const misplaced = new Set<string>();
  const moving = new Set<string>();
  for (const shard of shards) {
    for (const replica of shard.replicas) {
      for (const canonical of replica.groups.keys()) {
        const owner = owners.now(canonical);
        if (owner !== shard.name) misplaced.add(canonical);
        if (owner !== owners.before(canonical)) moving.add(canonical);
      }
    }
  }
  const actions: MigrationAction[] = [];
  if (phase === 'delete') {
    for (const shard of shards) {
      for (const replica of shard.replicas) {
        for (const canonical of replica.groups.keys()) {
          if (owners.now(canonical) !== shard.name) actions.push({ kind: 'delete', canonical, on: replica.id, confirm: false });
        }
      }
    }
    return { actions: sortActions(actions), misplaced: misplaced.size, unsettled: [] };
  }

  const unsettled: string[] = [];
  for (const canonical of [...moving].sort()) {
    const owner = byName.get(owners.now(canonical));
    const authority = byName.get(owners.before(canonical));
    if (owner === undefined || authority === undefined) {
      // An owner that is not configured (removed without draining): nothing can be checked.
      unsettled.push(canonical);
      continue;
    }
    const holders = authority.replicas.filter((r) => r.groups.has(canonical));
    let differs = false;
    if (holders.length === 0) {
      // Gone from the old owner while the new one holds it: deleted through the old owner. Only
      // when the old owner's replicas are trusted (one restarted empty proves nothing).
      const held = owner.replicas.filter((r) => r.groups.has(canonical));
      differs = held.length > 0;
      if (differs && authority.replicas.length > 0 && authority.replicas.some((r) => r.suspectSince === undefined)) {
        for (const r of held) if (phase === 'copy') actions.push({ kind: 'delete', canonical, on: r.id, confirm: true });
      }
    } else {
      // The newest copy on the old owner, trusted replicas first (a suspect's push times may be a copy's).
      const trusted = holders.filter((r) => r.suspectSince === undefined);
      const source = maxBy(trusted.length > 0 ? trusted : holders, (r) => r.groups.get(canonical)!.pushTime)!;
      const truth = source.groups.get(canonical)!;
      for (const r of owner.replicas) {
        const copy = r.groups.get(canonical);
        if (copy !== undefined && copy.content === truth.content) continue;
        differs = true;
        if (phase === 'copy') actions.push({ kind: 'copy', canonical, from: source.id, to: r.id });
      }
    }
    if (differs) unsettled.push(canonical);
  }
  return { actions, misplaced: misplaced.size, unsettled };
}

function sortActions(actions: MigrationAction[]): MigrationAction[] {
  return actions.sort((a, b) => (a.canonical < b.canonical ? -1 : a.canonical > b.canonical ? 1 : 0));
}
