/**
 * One pass over every shard: read what each reachable replica holds (/api/v1/metrics) and when
 * it started (/api/v1/status); plan the repairs within each shard (core/repair) and, during a
 * ring change, the moves between shards (core/migrate); carry them out with bounded concurrency
 * (a copy is a PUT of the group's encoded content to its path, a delete a DELETE); and move the
 * ring change on to its next phase when it may (docs/resizing.md).
 */
import { createHash } from 'node:crypto';
import type { Backend } from '../backends/client.js';
import type { Cluster } from '../backends/cluster.js';
import type { ReconcileConfig } from '../config/schema.js';
import type { ApiGroup } from '../core/exposition.js';
import { formatGroupingPath } from '../core/grouping-key.js';
import { planMigration, type MigrationAction, type MigrationPhase, type MigrationPlan } from '../core/migrate.js';
import { groupingKeyOf, planRepairs, toGroupCopy, type GroupCopy, type RepairAction, type ReplicaView } from '../core/repair.js';
import { globToRegExp } from '../core/glob.js';
import { writeCopy } from './copy-group.js';
import type { HintStore } from './hints.js';
import type { SuspectStore } from './suspects.js';
import { createLocalTransition, NO_CHANGE, type Transition, type TransitionState } from './transition.js';

export interface PassReport {
  readonly shards: number;
  readonly groupsSeen: number;
  readonly copied: number;
  readonly deletedAway: number;
  readonly expired: number;
  readonly failed: number;
  /** Replicas that could not be read, by id (`shard/replica`). */
  readonly unreachable: readonly string[];
  /** Replicas that were out of sync when the pass started. */
  readonly outOfSync: number;
  readonly durationMs: number;
  /** The planned actions (all of them in a dry run). */
  readonly actions: readonly RepairAction[];
  /** The ring change under way, as this reconciler carries it out ('none': none, or not its ring). */
  readonly phase: TransitionState['phase'];
  /** Groups found on a shard that does not own them, and moving groups not yet on their owner. */
  readonly misplaced: number;
  readonly unsettled: number;
  /** Migration actions done: copies to owners, deletes of stray copies. */
  readonly moved: number;
  readonly straysDeleted: number;
  /** Actions for a difference seen once (repairs and moves): done if the next pass sees it again. */
  readonly deferred: number;
  readonly migration: readonly MigrationAction[];
}

export interface ReconcilerEvents {
  /** Hints replayed to a replica, or dropped because a copy from a trusted twin replaces them. */
  hintsReplayed?(count: number): void;
  hintsSuperseded?(count: number): void;
  /** A shard is done: for progress output. */
  shardDone?(shard: string, actions: number): void;
  restarted?(replica: string): void;
  actionFailed?(action: RepairAction | MigrationAction, error: string): void;
  /** In a ring transition: every moved group was found on its owner. */
  migrationSettled?(): void;
}

export interface Reconciler {
  pass(options?: { dryRun?: boolean }): Promise<PassReport>;
  /**
   * Forgets what earlier passes saw (differences to confirm, the previous pass of a ring change):
   * another reconciler may have acted since (the lease moved).
   */
  forget(): void;
}

export interface ReconcilerOptions {
  readonly cluster: Cluster;
  readonly config: ReconcileConfig;
  readonly suspects: SuspectStore;
  readonly events?: ReconcilerEvents;
  /** The clock expiry is judged by (tests move it forward). */
  readonly now?: () => number;
  /** Missed writes to supersede or replay. */
  readonly hints?: HintStore;
  /** The phases of a ring change; absent: this process's cluster alone decides. */
  readonly transition?: Transition;
  /** Move groups held outside their owner (live resizing); off: only report them. */
  readonly migrate?: boolean;
}

export function createReconciler(options: ReconcilerOptions): Reconciler {
  const { cluster, config, suspects, hints } = options;
  const events = options.events ?? {};
  const now = options.now ?? Date.now;
  const transition = options.transition ?? createLocalTransition(cluster, 0);
  const migrate = options.migrate === true;
  const startTimes = new Map<string, string>();
  const expiry = config.expire.map((rule) => ({ test: globToRegExp(rule.jobs), maxAge: rule.maxAgeSeconds }));
  const maxAgeOf = (job: string): number | undefined => expiry.find((e) => e.test.test(job))?.maxAge;

  // Differences seen by the previous pass. Replicas are read moments apart, so under continuous
  // pushes a group can differ only because a push landed between two reads; the next push fixes
  // that by itself. A content difference is acted on only when the next pass sees it again (the
  // same family differing the same way).
  let seenBefore = new Set<string>();
  const MAX_REMEMBERED = 200_000;
  const confirm = <A extends RepairAction | MigrationAction>(candidates: readonly A[], viewsById: ReadonlyMap<string, ReplicaView>, seenNow: Set<string>): A[] =>
    candidates.filter((action) => {
      const signatures = signaturesOf(action, viewsById);
      if (signatures === undefined) return true;
      for (const signature of signatures) if (seenNow.size < MAX_REMEMBERED) seenNow.add(signature);
      return signatures.some((signature) => seenBefore.has(signature));
    });

  // What this reconciler wrote itself (copies, replayed hints), per replica and group: a digest
  // of the content and the push time it stands for. A Pushgateway stamps whatever it is sent
  // with the time it receives it, so a copy or a replay looks newer than it is; while the replica
  // still holds that content, planning uses the time it stands for.
  // `stamp`: the push time the Pushgateway gave what was written, once a read has seen it; a
  // different stamp later means the group was pushed again since, even with the same content.
  const written = new Map<string, { digest: string; pushTime: number; stamp: number | undefined }>();
  const MAX_WRITTEN = 200_000;
  const remember = (replica: string, canonical: string, content: string, pushTime: number, stamp?: number): void => {
    const key = `${replica}\u0000${canonical}`;
    written.delete(key);
    if (written.size >= MAX_WRITTEN) written.delete(written.keys().next().value!);
    written.set(key, { digest: digestOf(content), pushTime, stamp });
  };
  const effective = (replica: string, group: GroupCopy): GroupCopy => {
    const key = `${replica}\u0000${group.canonical}`;
    const record = written.get(key);
    if (record === undefined) return group;
    record.stamp ??= group.pushTime;
    if (record.digest === digestOf(group.content) && record.stamp === group.pushTime) return { ...group, pushTime: record.pushTime };
    written.delete(key); // pushed since
    return group;
  };

  /** Reads every replica of a shard; notes restarts (a new start_time) as suspect marks. */
  const readShard = async (backends: readonly Backend[], dryRun = false): Promise<{ views: ReplicaView[]; byId: Map<string, Backend>; unreachable: string[] }> => {
    const views: ReplicaView[] = [];
    const byId = new Map<string, Backend>();
    const unreachable: string[] = [];
    await Promise.all(
      backends.map(async (backend) => {
        const { id } = backend;
        const snapshot = await readReplica(backend).catch(() => undefined);
        if (snapshot === undefined) {
          unreachable.push(id);
          return;
        }
        const previous = startTimes.get(id);
        if (previous !== undefined && previous !== snapshot.startTime) {
          // Restarted: whatever it holds now, it missed what came while it was gone.
          if (!dryRun) suspects.mark(id, Date.now());
          events.restarted?.(id);
        }
        startTimes.set(id, snapshot.startTime);
        views.push({ id, groups: new Map(snapshot.groups.map((g) => [g.canonical, effective(id, g)])), suspectSince: suspects.since(id) });
        byId.set(id, backend);
      }),
    );
    views.sort((a, b) => (a.id < b.id ? -1 : 1));
    return { views, byId, unreachable };
  };

  /**
   * With a trusted replica in the shard, the suspects' hints are superseded: the copy from it
   * carries the latest state, deletes included. With none (each replica missed something), each
   * replica's hints are replayed in order, so that each gets exactly the writes it missed.
   * True when something was replayed.
   */
  const handOffHints = async (views: readonly ReplicaView[], byId: ReadonlyMap<string, Backend>): Promise<boolean> => {
    const anyTrusted = views.some((v) => v.suspectSince === undefined);
    let replayed = false;
    let count = 0;
    for (const view of views) {
      if (view.suspectSince === undefined) continue;
      const pending = await hints!.drain(view.id);
      if (pending.length === 0) continue;
      if (anyTrusted) {
        events.hintsSuperseded?.(pending.length);
        continue;
      }
      const backend = byId.get(view.id)!;
      const groups = new Map<string, number>();
      for (const [i, hint] of pending.entries()) {
        const res = await backend.call(hint.method, hint.path, hint.body, hint.headers).catch(() => undefined);
        if (res === undefined || res.status >= 500) {
          // Keep the rest, in order, for the next pass.
          for (const rest of pending.slice(i)) hints!.add(view.id, rest);
          break;
        }
        groups.set(hint.group, hint.at / 1000);
        count++;
      }
      // Read back at once (before another replica's replays run): each replayed group stands for
      // the time its push was received, as long as it holds what the replay left.
      const after = await readReplica(backend).catch(() => undefined);
      for (const group of after?.groups ?? []) {
        const pushTime = groups.get(group.canonical);
        if (pushTime !== undefined) remember(view.id, group.canonical, group.content, pushTime, group.pushTime);
      }
      replayed = true;
    }
    if (count > 0) events.hintsReplayed?.(count);
    return replayed;
  };

  // The previous pass of the ring change under way: the settle rule looks at two in a row.
  /** What the previous pass of the change under way did: on which replica, and what it copied there. */
  let previousPass: { id: string; everyoneDual: boolean; acted: ReadonlyArray<{ on: string; canonical: string; copied?: ReadonlyMap<string, string> }> } | undefined;

  return {
    forget() {
      seenBefore = new Set();
      previousPass = undefined;
    },
    async pass(options = {}) {
      const started = Date.now();
      await suspects.refresh?.().catch(() => undefined);
      // Taken once: a reload during the pass must not mix two rings in one plan.
      // Redis not answering: repairs within shards go on; the ring change waits.
      const change = await transition.state().catch(() => NO_CHANGE);
      const version = cluster.version;
      const ring = cluster.ring;
      // A change is carried out only by a reconciler on its new ring (it knows every shard).
      const from = migrate && change.to === version ? change.from : undefined;
      // No change carried out here: plan as in the hold phase, which only reports what is misplaced.
      const phase: MigrationPhase = from === undefined || change.phase === 'none' ? 'hold' : change.phase;
      const totals = { groupsSeen: 0, copied: 0, deletedAway: 0, expired: 0, failed: 0, outOfSync: 0, moved: 0, straysDeleted: 0 };
      const unreachable: string[] = [];
      const allActions: RepairAction[] = [];
      // Read every shard first: moving groups between shards needs all of them at once.
      const read: Array<{ name: string; views: ReplicaView[] }> = [];
      const viewsById = new Map<string, ReplicaView>();
      const backendsById = new Map<string, Backend>();
      for (const shard of cluster.shards.values()) {
        let { views, byId, unreachable: missing } = await readShard(shard.backends, options.dryRun);
        if (!options.dryRun && hints !== undefined && (await handOffHints(views, byId))) {
          // Replays changed what the replicas hold: plan from what they hold now.
          ({ views, byId, unreachable: missing } = await readShard(shard.backends));
        }
        unreachable.push(...missing);
        for (const view of views) {
          totals.groupsSeen += view.groups.size;
          viewsById.set(view.id, view);
          backendsById.set(view.id, byId.get(view.id)!);
        }
        read.push({ name: shard.name, views });
      }
      const owners = { now: (c: string) => ring.ownerOf(c), before: (c: string) => (from ?? ring).ownerOf(c) };
      const migration = planMigration(
        read.map((r) => ({ name: r.name, replicas: r.views })),
        owners,
        phase,
      );
      /** Carries actions out, `concurrency` at a time; failures are counted and reported. */
      const carryOutAll = <A extends RepairAction | MigrationAction>(actions: readonly A[], done: (action: A) => void): Promise<void> =>
        runBounded(actions, config.concurrency, async (action) => {
          const ok = await carryOut(action, viewsById, backendsById, suspects).catch((err: Error) => {
            events.actionFailed?.(action, err.message);
            return false;
          });
          if (ok === 'skipped') return; // the next pass plans it again from fresh reads
          if (!ok) {
            totals.failed++;
            return;
          }
          if (action.kind === 'copy') {
            const copied = viewsById.get(action.from)!.groups.get(action.canonical)!;
            remember(action.to, action.canonical, copied.content, copied.pushTime);
          }
          done(action);
        });
      const touched = new Set<string>();
      const seenNow = new Set<string>();
      const migrationActions = confirm(migration.actions, viewsById, seenNow);
      let deferred = migration.actions.length - migrationActions.length;
      for (const { name, views } of read) {
        let actions = planRepairs(views, { now: now(), maxAgeOf });
        // Stray copies about to be deleted are not worth repairing among themselves; and while
        // moving groups are copied, their new owner's replicas are made equal to the old owner's
        // (a repair among them could spread a copy that lost a race, every other pass).
        if (phase === 'delete') actions = actions.filter((a) => ring.ownerOf(a.canonical) === name);
        if (phase === 'copy') actions = actions.filter((a) => owners.now(a.canonical) !== name || owners.before(a.canonical) === name);
        // Any planned action, confirmed or not, means the replica is not in sync yet: its
        // suspect mark must stay (an unconfirmed difference may be a real stale copy).
        for (const a of actions) touched.add(a.kind === 'copy' ? a.to : a.on);
        const planned = actions;
        actions = confirm(actions, viewsById, seenNow);
        deferred += planned.length - actions.length;
        // A dry run lists every planned action, confirmed or not: nothing is carried out.
        allActions.push(...(options.dryRun ? planned : actions));
        if (!options.dryRun) {
          await carryOutAll(actions, (action) => {
            if (action.kind === 'copy') totals.copied++;
            else if (action.reason === 'expired') totals.expired++;
            else totals.deletedAway++;
          });
        }
        events.shardDone?.(name, actions.length);
      }
      for (const a of migration.actions) touched.add(a.kind === 'copy' ? a.to : a.on);
      if (!options.dryRun) {
        seenBefore = seenNow;
        await carryOutAll(migrationActions, (action) => {
          if (action.kind === 'copy') totals.moved++;
          else totals.straysDeleted++;
        });
        // In sync now (nothing to do for it this pass): trusted again, unless it missed a
        // write while the pass ran.
        for (const view of viewsById.values()) if (!touched.has(view.id)) suspects.clear(view.id, started);
        // Every replica read, the ring unchanged, every difference remembered for the next pass
        // (knowing every shard of the ring the change comes from: one missing from this front
        // door's file was never read).
        const complete =
          unreachable.length === 0 &&
          cluster.version === version &&
          seenNow.size < MAX_REMEMBERED &&
          (from === undefined || from.shards.every((name) => cluster.shards.has(name)));
        const oldOwnerCopies = (canonical: string) =>
          (read.find((r) => r.name === owners.before(canonical))?.views ?? []).flatMap((v) => {
            const held = v.groups.get(canonical);
            return held === undefined ? [new Map<string, string>()] : [held.families];
          });
        await advance(from === undefined ? undefined : change, migration, migrationActions, viewsById, oldOwnerCopies, complete);
      }
      totals.outOfSync = touched.size;
      return {
        shards: cluster.shards.size,
        ...totals,
        unreachable,
        durationMs: Date.now() - started,
        actions: allActions,
        phase: from === undefined ? 'none' : change.phase,
        misplaced: migration.misplaced,
        unsettled: migration.unsettled.length,
        deferred,
        migration: options.dryRun ? migration.actions : migrationActions,
      };
    },
  };

  /**
   * Moves the change under way on. Settled when two passes in a row ran while every front door
   * wrote both owners and the second found nothing to do: a push that reached the old owner
   * alone happened before the first pass read it, so a difference it left was seen by both (and
   * copied); the groups the first pass copied or deleted are equal on both sides now; and any
   * other difference is a push read on one side and not yet on the other, which reaches both.
   * Closed when a pass in the delete phase finds no stray copy left.
   */
  async function advance(
    change: TransitionState | undefined,
    migration: MigrationPlan,
    done: readonly MigrationAction[],
    viewsById: ReadonlyMap<string, ReplicaView>,
    /** The families of each copy of a group on its old owner's replicas. */
    oldOwnerCopies: (canonical: string) => Array<ReadonlyMap<string, string>>,
    complete: boolean,
  ): Promise<void> {
    if (change?.id === undefined || change.phase !== 'copy') {
      previousPass = undefined;
      if (change?.id !== undefined && change.phase === 'delete' && complete && migration.misplaced === 0) await transition.close(change.id);
      return;
    }
    const unsettled = new Set(migration.unsettled);
    // A group the previous pass copied holds the change back while its copy may have lost a race
    // with a newer push: some metric family still as copied on the target, where the old owner
    // now holds something else. (A family changed on the target since took a newer push.)
    const stillRaced = (previousPass?.acted ?? []).some((a) => {
      if (!unsettled.has(a.canonical)) return false;
      if (a.copied === undefined) return true; // a delete from the new owner
      const target = viewsById.get(a.on)?.groups.get(a.canonical)?.families;
      const authority = oldOwnerCopies(a.canonical);
      const names = new Set([...a.copied.keys(), ...(target?.keys() ?? []), ...authority.flatMap((f) => [...f.keys()])]);
      return [...names].some((name) => target?.get(name) === a.copied!.get(name) && authority.some((f) => f.get(name) !== a.copied!.get(name)));
    });
    const quiet = complete && done.length === 0 && change.everyoneDual && previousPass?.id === change.id && previousPass.everyoneDual && !stillRaced;
    const acted = done.map((a) =>
      a.kind === 'delete' ? { on: a.on, canonical: a.canonical } : { on: a.to, canonical: a.canonical, copied: viewsById.get(a.from)?.groups.get(a.canonical)?.families ?? new Map<string, string>() },
    );
    previousPass = { id: change.id, everyoneDual: change.everyoneDual, acted };
    if (quiet && (await transition.settle(change.id))) events.migrationSettled?.();
  }
}

async function readReplica(backend: Backend): Promise<{ startTime: string; groups: ReturnType<typeof toGroupCopy>[] }> {
  const [status, groups] = await Promise.all([backend.call('GET', '/api/v1/status'), backend.groups()]);
  if (status.status !== 200) throw new Error(`GET /api/v1/status answered ${status.status}`);
  const startTime = (JSON.parse(status.body) as { data: { start_time: string } }).data.start_time;
  return { startTime, groups: groups.map(toGroupCopy) };
}

async function carryOut(
  action: RepairAction | MigrationAction,
  views: ReadonlyMap<string, ReplicaView>,
  byId: ReadonlyMap<string, Backend>,
  suspects: SuspectStore,
): Promise<boolean | 'skipped'> {
  if (action.kind === 'copy') {
    const source = views.get(action.from)!;
    // A source read as trusted that missed a write since (it failed while the pass ran) may be
    // older than a push only the target got: copying it now could overwrite that push.
    if (source.suspectSince === undefined && suspects.since(action.from) !== undefined) return 'skipped';
    const group = source.groups.get(action.canonical)!.group;
    // The copy gets the copy's push time: until a pass finds it in sync, its push times are not
    // client push times, so it must not be anyone's source of truth.
    suspects.mark(action.to, Date.now());
    await writeCopy(byId.get(action.to)!, group);
    return true;
  }
  const group = views.get(action.on)!.groups.get(action.canonical)!.group;
  const res = await byId.get(action.on)!.call('DELETE', pathOf(group));
  if (res.status >= 300) throw new Error(`DELETE answered ${res.status}: ${res.body.trim()}`);
  return true;
}

/**
 * What a difference looked like, for confirming it at the next pass: one digest per metric family
 * that differs (a POST changes some families and leaves the others, so a stale family stays
 * recognisable while the group's other families keep changing). Undefined for actions taken at
 * once: a repair copy to a replica that lacks the group, expiry, the delete phase.
 */
function signaturesOf(action: RepairAction | MigrationAction, views: ReadonlyMap<string, ReplicaView>): string[] | undefined {
  const on = (id: string) => views.get(id)?.groups.get(action.canonical);
  const digest = (...parts: string[]): string => digestOf(parts.join('\u0000'));
  if (action.kind === 'delete') {
    if ('reason' in action ? action.reason !== 'deleted-while-away' : !action.confirm) return undefined;
    return [digest('delete', action.canonical, action.on, on(action.on)?.content ?? '')];
  }
  const source = on(action.from);
  const target = on(action.to);
  if (target === undefined) return 'reason' in action ? undefined : [digest('missing', action.canonical, action.to, source?.content ?? '')];
  const names = new Set([...(source?.families.keys() ?? []), ...target.families.keys()]);
  const differing = [...names].filter((name) => source?.families.get(name) !== target.families.get(name));
  return differing.map((name) => digest('copy', action.canonical, action.to, name, source?.families.get(name) ?? '', target.families.get(name) ?? ''));
}

function digestOf(text: string): string {
  return createHash('sha256').update(text).digest('base64');
}

function pathOf(group: ApiGroup): string {
  return formatGroupingPath(groupingKeyOf(group));
}

/** Runs `work` over `items`, at most `limit` at once. */
async function runBounded<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
