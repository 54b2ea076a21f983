/**
 * Moving groups after a ring change (docs/resizing.md). Pure: from what every replica of every
 * shard holds and who owns what now, what to copy to the owners and what to delete elsewhere.
 *
 * - `copy` phase (front doors write old and new owner): the shards holding a group they no longer
 *   own are its authority, since every push still reaches them; their newest copy goes to every
 *   replica of the owner that lacks it or holds something older.
 * - `delete` phase (front doors write the new owners only): the owner is the authority; copies on
 *   other shards are deleted. A group that no owner replica holds at all is copied first instead
 *   (a failed or unfinished copy) and deleted at a later pass.
 */
import type { ReplicaView } from './repair.js';

export interface ShardView {
  readonly name: string;
  readonly replicas: readonly ReplicaView[];
}

export type MigrationAction =
  | { readonly kind: 'copy'; readonly canonical: string; readonly from: string; readonly to: string }
  | { readonly kind: 'delete'; readonly canonical: string; readonly on: string };

export interface MigrationPlan {
  readonly actions: readonly MigrationAction[];
  /** Groups held by a shard that does not own them. */
  readonly misplaced: number;
  /** Of those, groups whose owner does not hold the same content yet. */
  readonly unsettled: number;
  /** Of those, groups no replica of their owner holds at all. */
  readonly missing: number;
}

export function planMigration(shards: readonly ShardView[], ownerOf: (canonical: string) => string, phase: 'copy' | 'delete'): MigrationPlan {
  const byName = new Map(shards.map((s) => [s.name, s]));
  // Every copy of every group held outside its owner, gathered across shards.
  const strays = new Map<string, ReplicaView[]>();
  for (const shard of shards) {
    for (const replica of shard.replicas) {
      for (const canonical of replica.groups.keys()) {
        if (ownerOf(canonical) === shard.name) continue;
        let holders = strays.get(canonical);
        if (holders === undefined) strays.set(canonical, (holders = []));
        holders.push(replica);
      }
    }
  }
  const actions: MigrationAction[] = [];
  let unsettled = 0;
  let missing = 0;
  for (const canonical of [...strays.keys()].sort()) {
    const holders = strays.get(canonical)!;
    const owner = byName.get(ownerOf(canonical));
    const ownerReplicas = owner?.replicas ?? [];
    // The newest stray, trusted replicas first (a suspect's push times may be a copy's).
    const trusted = holders.filter((r) => r.suspectSince === undefined);
    const source = newest(trusted.length > 0 ? trusted : holders, canonical);
    const truth = source.groups.get(canonical)!;
    const differing = ownerReplicas.filter((r) => {
      const copy = r.groups.get(canonical);
      if (copy === undefined) return true;
      if (copy.content === truth.content) return false;
      // A trusted owner replica (no copy received since it was last in sync) holding a push at
      // least as new got it from a client through a dual write: it is current, not stale. Under
      // continuous pushes, the owners are read moments apart and differ only this way.
      return !(r.suspectSince === undefined && copy.pushTime >= truth.pushTime);
    });
    if (differing.length > 0) unsettled++;
    if (!ownerReplicas.some((r) => r.groups.has(canonical))) missing++;
    const copyTo = (targets: readonly ReplicaView[]): void => {
      for (const r of targets) actions.push({ kind: 'copy', canonical, from: source.id, to: r.id });
    };
    if (phase === 'copy') copyTo(differing);
    else if (!ownerReplicas.some((r) => r.groups.has(canonical))) copyTo(ownerReplicas);
    else for (const r of holders) actions.push({ kind: 'delete', canonical, on: r.id });
  }
  return { actions, misplaced: strays.size, unsettled, missing };
}

function newest(replicas: readonly ReplicaView[], canonical: string): ReplicaView {
  return replicas.reduce((best, r) => (r.groups.get(canonical)!.pushTime > best.groups.get(canonical)!.pushTime ? r : best));
}
