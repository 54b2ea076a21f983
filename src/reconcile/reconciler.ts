/**
 * One pass: first heal the replicas whose scrape is broken (reconcile/heal), then go over the
 * shards, one shard at a time: read what each replica of the shard holds
 * (reconcile/read: summaries streamed group by group, and restarts), plan the repairs within it
 * (core/repair) and carry them out (reconcile/execute), then let go of it, keeping only what the
 * ring change under way needs of it: the summaries of its moving groups, and which groups it
 * holds outside their owner. Then plan the moves between shards (core/migrate), carry them out,
 * and move the change on when it may (core/settle; docs/resizing.md).
 *
 * A pass's memory is one shard's summaries plus the moving groups'; a copy reads its source again
 * for the groups it copies; a heal holds the judge's model of one replica's groups. Three
 * memories span passes: the differences seen by the previous pass (reconcile/confirmations),
 * what this reconciler wrote (reconcile/written), and how many heals each replica has had since
 * its scrape was last found ok.
 */
import type { Backend } from '../backends/client.js';
import type { Cluster, Shard } from '../backends/cluster.js';
import type { ReconcileConfig } from '../config/schema.js';
import {
  findMisplaced,
  keepMoving,
  memoizeOwnership,
  planMoves,
  planStrayDeletes,
  sortActions,
  type MigrationAction,
  type MigrationPhase,
  type Ownership,
  type ShardView,
} from '../core/migrate.js';
import { planRepairs, type RepairAction, type ReplicaView } from '../core/repair.js';
import { decideChangeStep, hasRacedCopy, type Acted, type ChangePass, type SettleFacts } from '../core/settle.js';
import { signaturesOf, type CopyOn } from '../core/signatures.js';
import type { GroupSummary } from '../core/summary.js';
import { compileGlob } from '../core/glob.js';
import { createConfirmations, type PassConfirmations } from './confirmations.js';
import { carryOut, type ExecuteContext } from './execute.js';
import { handOffHints } from './handoff.js';
import type { DriftCheck, DriftReport } from '../judge/drift-check.js';
import { healReplica, type HealAction } from './heal.js';
import type { HintStore } from './hints.js';
import { createShardReader, type ShardRead } from './read.js';
import type { SuspectStore } from './suspects.js';
import { createLocalTransition, NO_CHANGE, type Transition, type TransitionState } from './transition.js';
import { createWritten } from './written.js';

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
  /**
   * A ring change is under way to a ring this front door does not serve: it cannot carry it out
   * (a front door on that ring must hold the lease). Absent: false.
   */
  readonly changeElsewhere?: boolean;
  /** Groups found on a shard that does not own them, and moving groups not yet on their owner. */
  readonly misplaced: number;
  readonly unsettled: number;
  /** Migration actions done: copies to owners, deletes of stray copies. */
  readonly moved: number;
  readonly straysDeleted: number;
  /** Actions for a difference seen once (repairs and moves): done if the next pass sees it again. */
  readonly deferred: number;
  readonly migration: readonly MigrationAction[];
  /** What healing replicas whose scrape was broken did (reconcile/heal.ts); absent: nothing. */
  readonly heals?: readonly HealAction[];
  /** Replicas this pass tried to heal whose scrape was still broken after it. */
  readonly unhealed?: readonly UnhealedReplica[];
  /** What the check of the judge's index against the replicas repaired; absent: no check ran. */
  readonly drift?: DriftReport;
}

export interface UnhealedReplica {
  readonly shard: string;
  readonly replica: string;
  /** Heals tried since its scrape was last found ok, this pass's included. */
  readonly attempts: number;
  /** False once MAX_HEAL_ATTEMPTS are spent: no pass tries again until its scrape is found ok once. */
  readonly retry: boolean;
  readonly reason: string;
}

/**
 * Heals of one replica before the reconciler gives up on it: a heal that did not help (a clash
 * the judge does not see, writes that keep failing) is not repeated every pass for ever; the
 * alert PushringBackendScrapeBroken stays firing for an operator.
 */
export const MAX_HEAL_ATTEMPTS = 3;
/** How long a heal waits for the replica's scrape to answer 200 after its writes (they are queued). */
const HEAL_SETTLE_MS = 5_000;

export interface ReconcilerEvents {
  /** Hints replayed to a replica, or dropped because a copy from a trusted twin replaces them. */
  hintsReplayed?(count: number): void;
  hintsSuperseded?(count: number): void;
  /** A shard is done: for progress output. */
  shardDone?(shard: string, actions: number): void;
  restarted?(replica: string): void;
  actionFailed?(action: RepairAction | MigrationAction, error: string): void;
  /** The check of the judge's index could not finish (its store did not answer); the next pass tries again. */
  driftCheckFailed?(error: string): void;
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
  /** Told when a pass is due soon: a replica's scrape was found broken. */
  onPassDue(listener: () => void): void;
  /** True while a replica's scrape is broken and heals of it are left to try. */
  healPending(): boolean;
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
  /** The judge's index, checked against what the pass reads (judge/drift-check.ts); absent: none. */
  readonly driftCheck?: DriftCheck;
}

export function createReconciler(options: ReconcilerOptions): Reconciler {
  const { cluster, config, suspects, hints } = options;
  const events = options.events ?? {};
  const clock = options.now ?? Date.now;
  const transition = options.transition ?? createLocalTransition(cluster, 0);
  const migrate = options.migrate === true;
  const expiry = config.expire.map((rule) => ({ test: compileGlob(rule.jobs), maxAge: rule.maxAgeSeconds }));
  const maxAgeOf = (job: string): number | undefined => expiry.find((e) => e.test.test(job))?.maxAge;
  const confirmations = createConfirmations();
  const written = createWritten();
  const { driftCheck } = options;
  const reader = createShardReader({
    suspects,
    written,
    ...(driftCheck === undefined ? {} : { observer: driftCheck }),
    ...(events.restarted === undefined ? {} : { restarted: (replica: string) => events.restarted?.(replica) }),
  });
  // The previous pass of the change under way: the settle rule looks at two in a row.
  let previous: ChangePass | undefined;
  // Per replica of the configuration (bounded by the ring's size): heals tried since its scrape was last ok.
  const healAttempts = new Map<string, number>();
  const passDue: Array<() => void> = [];
  cluster.onScrapeChange((backend, scrape) => {
    if (scrape === 'ok') healAttempts.delete(backend.id);
    if (scrape === 'broken') for (const listener of passDue) listener();
  });
  const healDue = (backend: Backend): boolean => backend.scrape === 'broken' && (healAttempts.get(backend.id) ?? 0) < MAX_HEAL_ATTEMPTS;

  /** Heals the replicas of a shard whose scrape is broken, one at a time: each one's twin may be the next one. */
  const healShard = async (shard: Shard): Promise<{ actions: HealAction[]; unhealed: UnhealedReplica[]; failed: number }> => {
    const actions: HealAction[] = [];
    const unhealed: UnhealedReplica[] = [];
    let failed = 0;
    for (const backend of shard.backends.filter(healDue)) {
      const attempts = (healAttempts.get(backend.id) ?? 0) + 1;
      healAttempts.set(backend.id, attempts);
      // A twin whose own scrape is fine first; a broken one still tells which groups the two agree on.
      const twins = shard.backends.filter((b) => b !== backend && b.up);
      const twin = twins.find((b) => b.scrape !== 'broken') ?? twins[0];
      const outcome = await healReplica(backend, twin, { suspects, concurrency: config.concurrency, settleMs: HEAL_SETTLE_MS }).catch((err: Error) => ({
        actions: [],
        failed: 1,
        healed: false,
        reason: `the heal failed (${err.message}); ${backend.scrapeReason}`,
      }));
      actions.push(...outcome.actions);
      failed += outcome.failed;
      if (outcome.healed) healAttempts.delete(backend.id);
      else unhealed.push({ shard: shard.name, replica: backend.replica, attempts, retry: attempts < MAX_HEAL_ATTEMPTS, reason: outcome.reason });
    }
    return { actions, unhealed, failed };
  };

  /** Reads a shard; replays missed writes first where they are needed, and reads it again after. */
  const readShard = async (shard: Shard, dryRun: boolean): Promise<ShardRead> => {
    const read = await reader.read(shard.backends, dryRun);
    if (dryRun || hints === undefined || !(await handOffHints(read.views, read.byId, hints, written, events))) return read;
    // Replays changed what the replicas hold: plan from what they hold now.
    return reader.read(shard.backends);
  };

  return {
    forget() {
      confirmations.forget();
      previous = undefined;
    },
    onPassDue(listener) {
      passDue.push(listener);
    },
    healPending: () => cluster.backends.some(healDue),
    async pass(passOptions = {}) {
      const started = Date.now();
      const dryRun = passOptions.dryRun === true;
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
      const now = (c: string): string => ring.ownerOf(c);
      const ownership: Ownership = { now, before: from === undefined ? now : (c) => from.ownerOf(c) };
      const round = confirmations.startPass();
      const totals = { groupsSeen: 0, copied: 0, deletedAway: 0, expired: 0, failed: 0, moved: 0, straysDeleted: 0 };
      const unreachable: string[] = [];
      const repairs: RepairAction[] = [];
      const strays: MigrationAction[] = [];
      const misplaced = new Set<string>();
      const backends = new Map<string, Backend>();
      const suspectAtRead = new Map<string, number | undefined>();
      // Replicas with a planned action, confirmed or not: not in sync yet, their suspect mark stays
      // (an unconfirmed difference may be a real stale copy).
      const touched = new Set<string>();
      // Across shards, the moving groups alone, on their old and their new owner.
      const moving: Array<{ name: string; replicas: ReplicaView[] }> = [];
      let deferred = 0;
      const heals: HealAction[] = [];
      const unhealed: UnhealedReplica[] = [];
      const context = (copyOn: CopyOn): ExecuteContext => ({
        concurrency: config.concurrency,
        suspects,
        written,
        backends,
        copyOn,
        suspectAtRead: (replica) => suspectAtRead.get(replica),
        failed: (action, error) => events.actionFailed?.(action, error),
      });
      /** The actions seen twice (core/signatures) or to take at once; their replicas are not in sync. */
      const confirm = <A extends RepairAction | MigrationAction>(actions: readonly A[], copyOn: CopyOn, pass: PassConfirmations): A[] => {
        for (const a of actions) touched.add(a.kind === 'copy' ? a.to : a.on);
        const confirmed = actions.filter((a) => pass.confirm(signaturesOf(a, copyOn)));
        deferred += actions.length - confirmed.length;
        return confirmed;
      };

      // The heal comes first, for every shard: a broken scrape hides every group of its replica
      // from Prometheus, and a shard read after it heals copies nothing that clashes.
      for (const shard of dryRun ? [] : [...cluster.shards.values()].filter((s) => s.backends.some(healDue))) {
        const healed = await healShard(shard);
        heals.push(...healed.actions);
        unhealed.push(...healed.unhealed);
        totals.failed += healed.failed;
      }

      if (!dryRun) driftCheck?.begin(Date.now());
      for (const shard of cluster.shards.values()) {
        // A replica whose scrape is still broken holds groups that clash: nothing is copied from it.
        const poisoned = new Set(shard.backends.filter((b) => b.scrape === 'broken').map((b) => b.id));
        const { views, byId, unreachable: missing } = await readShard(shard, dryRun);
        unreachable.push(...missing);
        for (const view of views) {
          totals.groupsSeen += view.groups.size;
          backends.set(view.id, byId.get(view.id)!);
          suspectAtRead.set(view.id, view.suspectSince);
        }
        const owners = memoizeOwnership(ownership);
        const here: ShardView = { name: shard.name, replicas: views };
        const copyOn = copyOnViews(views);
        for (const canonical of findMisplaced(here, owners)) misplaced.add(canonical);

        let planned = planRepairs(views, { now: clock(), maxAgeOf });
        // Stray copies about to be deleted are not worth repairing among themselves; and while
        // moving groups are copied, their new owner's replicas are made equal to the old owner's
        // (a repair among them could spread a copy that lost a race, every other pass).
        if (phase === 'delete') planned = planned.filter((a) => owners.now(a.canonical) === shard.name);
        if (phase === 'copy') planned = planned.filter((a) => owners.now(a.canonical) !== shard.name || owners.before(a.canonical) === shard.name);
        const confirmed = confirm(planned, copyOn, round).filter((a) => a.kind !== 'copy' || !poisoned.has(a.from));
        // A dry run lists every planned action, confirmed or not: nothing is carried out.
        repairs.push(...(dryRun ? planned : confirmed));
        if (!dryRun) {
          totals.failed += await carryOut(confirmed, context(copyOn), (action) => {
            if (action.kind === 'copy') totals.copied++;
            else if (action.reason === 'expired') totals.expired++;
            else totals.deletedAway++;
          });
        }

        if (phase === 'delete') {
          // No one writes the old owners any more: the shard's strays go now.
          const deletes = confirm(planStrayDeletes(here, owners), copyOn, round);
          strays.push(...deletes);
          if (!dryRun) totals.failed += await carryOut(deletes, context(copyOn), () => totals.straysDeleted++);
        } else {
          moving.push({ name: shard.name, replicas: views.map((view) => keepMoving(view, shard.name, owners)) });
        }
        events.shardDone?.(shard.name, confirmed.length);
      }

      const owners = memoizeOwnership(ownership);
      const movingCopyOn = copyOnViews(moving.flatMap((s) => s.replicas));
      const plan = phase === 'delete' ? { actions: [], unsettled: [] } : planMoves(moving, owners, phase);
      const moves = confirm(plan.actions, movingCopyOn, round);
      const report = (): PassReport => ({
        shards: cluster.shards.size,
        ...totals,
        unreachable,
        outOfSync: touched.size,
        durationMs: Date.now() - started,
        actions: repairs,
        phase: from === undefined ? 'none' : change.phase,
        ...(migrate && change.id !== undefined && change.to !== version ? { changeElsewhere: true } : {}),
        misplaced: misplaced.size,
        unsettled: plan.unsettled.length,
        deferred,
        migration: phase === 'delete' ? sortActions(strays) : dryRun ? plan.actions : moves,
        ...(heals.length === 0 ? {} : { heals }),
        ...(unhealed.length === 0 ? {} : { unhealed }),
        ...(drift === undefined ? {} : { drift }),
      });
      let drift: DriftReport | undefined;
      if (dryRun) return report();

      round.commit();
      const copied = new Map<MigrationAction, GroupSummary>();
      totals.failed += await carryOut(moves, context(movingCopyOn), (action, summary) => {
        if (action.kind === 'copy') totals.moved++;
        else totals.straysDeleted++;
        if (summary !== undefined) copied.set(action, summary);
      });
      // In sync now (nothing to do for it this pass): trusted again, unless it missed a write
      // while the pass ran.
      for (const id of backends.keys()) if (!touched.has(id)) suspects.clear(id, started);

      const pass =
        from === undefined || change.id === undefined
          ? undefined
          : { id: change.id, everyoneDual: change.everyoneDual, acted: moves.map((a) => actedOf(a, copied.get(a), movingCopyOn)) };
      const oldOwnerCopies = (canonical: string) =>
        (moving.find((s) => s.name === owners.before(canonical))?.replicas ?? []).map((r) => r.groups.get(canonical)?.families ?? new Map<string, string>());
      previous = await advanceChange(transition, events, {
        phase: from === undefined ? 'none' : change.phase,
        pass,
        previous,
        complete: {
          everyReplicaRead: unreachable.length === 0,
          ringUnchanged: cluster.version === version,
          everyDifferenceRemembered: round.complete,
          oldShardsKnown: from === undefined || from.shards.every((name) => cluster.shards.has(name)),
        },
        misplaced: misplaced.size,
        stillRaced: hasRacedCopy(previous?.acted ?? [], new Set(plan.unsettled), (r, c) => movingCopyOn(r, c)?.families, oldOwnerCopies),
      });
      // After the moves and the heal: the index is compared with what the replicas held when read.
      if (driftCheck !== undefined) {
        drift = await driftCheck.finish(Date.now()).catch((err: Error) => {
          events.driftCheckFailed?.(err.message);
          return undefined;
        });
      }
      return report();
    },
  };
}

/** Moves the change under way on when the settle rule says so; returns what the next pass looks back on. */
async function advanceChange(transition: Transition, events: ReconcilerEvents, facts: SettleFacts): Promise<ChangePass | undefined> {
  const { step, remember } = decideChangeStep(facts);
  if (step === 'settle' && (await transition.settle(facts.pass!.id))) events.migrationSettled?.();
  if (step === 'close') await transition.close(facts.pass!.id);
  return remember;
}

/** What a pass read of a group on a replica, from its views. */
function copyOnViews(views: readonly ReplicaView[]): CopyOn {
  const byId = new Map(views.map((v) => [v.id, v]));
  return (replica, canonical) => byId.get(replica)?.groups.get(canonical);
}

/** A confirmed move as the next pass looks back on it; a copy with the families it wrote (planned, when it did not). */
function actedOf(action: MigrationAction, copied: GroupSummary | undefined, copyOn: CopyOn): Acted {
  if (action.kind === 'delete') return { on: action.on, canonical: action.canonical };
  return { on: action.to, canonical: action.canonical, copied: (copied ?? copyOn(action.from, action.canonical))?.families ?? new Map<string, string>() };
}
