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
import type { ChangePhase } from './ring-change.js';
import { maxBy, newestEventOf, type GroupCopy, type ReplicaView } from './repair.js';

/** What one replica holds, as far as moves look at it (core/repair's ReplicaView is one). */
export interface HeldView {
  readonly id: string;
  readonly groups: ReadonlyMap<string, Pick<GroupCopy, 'pushTime' | 'failureTime' | 'content'>>;
  readonly suspectSince: number | undefined;
}

export interface ShardView {
  readonly name: string;
  readonly replicas: readonly HeldView[];
}

/** The phases of a change under way (core/ring-change.ts names them all). */
export type MigrationPhase = Exclude<ChangePhase, 'none'>;

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
  readonly now: (canonical: string) => string;
  /** The owning shard under the ring the change comes from. */
  readonly before: (canonical: string) => string;
}

export function planMigration(shards: readonly ShardView[], owners: Ownership, phase: MigrationPhase): MigrationPlan {
  const misplaced = new Set<string>();
  for (const shard of shards) for (const canonical of findMisplaced(shard, owners)) misplaced.add(canonical);
  if (phase === 'delete') return { actions: sortActions(shards.flatMap((s) => planStrayDeletes(s, owners))), misplaced: misplaced.size, unsettled: [] };
  return { ...planMoves(shards, owners, phase), misplaced: misplaced.size };
}

/**
 * The same owners, each group placed once (a ring lookup is a hash; a shard's replicas hold the
 * same groups). Keep one for as long as its groups: it remembers every group asked about.
 */
export function memoizeOwnership(owners: Ownership): Ownership {
  const memo = (ownerOf: (canonical: string) => string): ((canonical: string) => string) => {
    const placed = new Map<string, string>();
    return (canonical) => {
      let owner = placed.get(canonical);
      if (owner === undefined) placed.set(canonical, (owner = ownerOf(canonical)));
      return owner;
    };
  };
  const now = memo(owners.now);
  return { now, before: owners.before === owners.now ? now : memo(owners.before) };
}

/** True when the group's owner differs between the two rings. */
export function isMoving(canonical: string, owners: Ownership): boolean {
  return owners.now(canonical) !== owners.before(canonical);
}

/**
 * What moves between shards need of a replica's view: its moving groups, where its shard is their
 * old or their new owner. planMoves plans from these alone as from the whole views.
 */
export function keepMoving(view: ReplicaView, shard: string, owners: Ownership): ReplicaView {
  const groups = new Map<string, GroupCopy>();
  for (const [canonical, copy] of view.groups) {
    if (isMoving(canonical, owners) && (owners.now(canonical) === shard || owners.before(canonical) === shard)) groups.set(canonical, copy);
  }
  return { id: view.id, groups, suspectSince: view.suspectSince };
}

/** The groups a shard holds and does not own. */
export function findMisplaced(shard: ShardView, owners: Ownership): Set<string> {
  const out = new Set<string>();
  for (const replica of shard.replicas) for (const canonical of replica.groups.keys()) if (owners.now(canonical) !== shard.name) out.add(canonical);
  return out;
}

/** The delete phase, for one shard: every copy it holds and does not own goes, at once. */
export function planStrayDeletes(shard: ShardView, owners: Ownership): MigrationAction[] {
  const actions: MigrationAction[] = [];
  for (const replica of shard.replicas) {
    for (const canonical of replica.groups.keys()) {
      if (owners.now(canonical) !== shard.name) actions.push({ kind: 'delete', canonical, on: replica.id, confirm: false });
    }
  }
  return actions;
}

/**
 * The copy and hold phases: what the new owners' replicas lack or hold otherwise. Only the moving
 * groups of the shards matter here (the reconciler keeps those alone across shards); every
 * replica read of the old and the new owner must be listed, holding them or not.
 */
export function planMoves(shards: readonly ShardView[], owners: Ownership, phase: 'copy' | 'hold'): Pick<MigrationPlan, 'actions' | 'unsettled'> {
  const byName = new Map(shards.map((s) => [s.name, s]));
  const moving = new Set<string>();
  for (const shard of shards)
    for (const replica of shard.replicas) for (const canonical of replica.groups.keys()) if (isMoving(canonical, owners)) moving.add(canonical);
  const actions: MigrationAction[] = [];
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
      const candidates = trusted.length > 0 ? trusted : holders;
      const truth = maxBy(candidates, (r) => newestEventOf(r.groups.get(canonical)!))!.groups.get(canonical)!;
      // Of the replicas holding that content, the first: a copy reads its source again, and one
      // source per shard is one read (twins' push times differ by the moment each got the push).
      const source = candidates.find((r) => r.groups.get(canonical)!.content === truth.content)!;
      for (const r of owner.replicas) {
        const copy = r.groups.get(canonical);
        if (copy !== undefined && copy.content === truth.content) continue;
        differs = true;
        if (phase === 'copy') actions.push({ kind: 'copy', canonical, from: source.id, to: r.id });
      }
    }
    if (differs) unsettled.push(canonical);
  }
  return { actions, unsettled };
}

/** In the order of their groups' canonical keys (reports list moves so). */
export function sortActions(actions: MigrationAction[]): MigrationAction[] {
  return actions.sort((a, b) => (a.canonical < b.canonical ? -1 : a.canonical > b.canonical ? 1 : 0));
}
