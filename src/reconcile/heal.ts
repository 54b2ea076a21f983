/**
 * Healing a replica whose scrape is broken: a Pushgateway holding groups that are inconsistent
 * with each other answers GET /metrics with 500 (Prometheus then loses every group on it) while
 * its /-/healthy stays 200 and its /api/v1/metrics still answers. The groups it holds are read
 * from there and replayed, in the order they came, through the judge's own check
 * (core/judge.ts findInconsistentGroups): the groups that conflict with those before them are
 * the culprits. Each culprit is set right from the twin when the twin holds a copy of it that is
 * consistent with the rest of this replica, and deleted otherwise.
 *
 * The order: groups the twin holds with the same content first, then the others, each part by
 * push time, oldest first. A checked Pushgateway would have refused the later of two conflicting
 * pushes, so the oldest group is the one kept; and a group both replicas agree on is kept over
 * one only this replica holds (pushed behind pushring's back, say), or the reconciler's repairs
 * would copy the group the heal deleted back from the twin, and the heal would delete it again,
 * pass after pass.
 *
 * A culprit is deleted before its twin's copy is written, even when the copy replaces it: a PUT
 * keeps a group's push_failure_time_seconds family, which may be the very family that clashes,
 * and a checked Pushgateway refuses every push until the clash is gone.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Backend } from '../backends/client.js';
import type { ApiGroup } from '../core/exposition.js';
import { findInconsistentGroups, storedGroupOf, type StoredGroup } from '../core/judge.js';
import { summarizeGroup } from '../core/summary.js';
import { writeCopy } from './copy-group.js';
import { deleteGroup, runBounded } from './execute.js';
import { readGroups } from './read.js';
import type { SuspectStore } from './suspects.js';

export type HealActionKind = 'removed' | 'copied_from_twin';

/** One group set right on a replica whose scrape was broken. */
export interface HealAction {
  readonly shard: string;
  readonly replica: string;
  /** The group's canonical grouping key. */
  readonly group: string;
  readonly action: HealActionKind;
  readonly why: string;
}

/** A group of the broken replica, as the heal weighs it. */
export interface HealCandidate {
  readonly canonical: string;
  readonly stored: StoredGroup;
  /** A digest of its content, push times aside (core/summary): equal on two replicas exactly when they hold the same. */
  readonly content: string;
  /** When it came to be: its push time, or, for a group that only a refused push created, that refusal's time. */
  readonly since: number;
}

/** What is known of the twin: the content digest of every group it holds. */
export type TwinContent = ReadonlyMap<string, string>;

export type FindInconsistent = (groups: readonly StoredGroup[]) => number[];

/** The culprits of `groups`, in the order they were weighed, and the groups kept. */
export function findCulprits(
  groups: readonly HealCandidate[],
  twin: TwinContent | undefined,
  find: FindInconsistent = findInconsistentGroups,
): { readonly kept: HealCandidate[]; readonly culprits: HealCandidate[] } {
  const byAge = (a: HealCandidate, b: HealCandidate): number => a.since - b.since || (a.canonical < b.canonical ? -1 : a.canonical > b.canonical ? 1 : 0);
  const shared = groups.filter((g) => twin?.get(g.canonical) === g.content).sort(byAge);
  const own = groups.filter((g) => twin?.get(g.canonical) !== g.content).sort(byAge);
  const ordered = [...shared, ...own];
  const flagged = new Set(find(ordered.map((g) => g.stored)));
  return { kept: ordered.filter((_, i) => !flagged.has(i)), culprits: ordered.filter((_, i) => flagged.has(i)) };
}

export type HealFix =
  { readonly kind: 'copy'; readonly canonical: string; readonly why: string } | { readonly kind: 'remove'; readonly canonical: string; readonly why: string };

const CULPRIT = 'inconsistent with the groups this replica held before it';

/**
 * What to do with each culprit. `versions` holds the twin's copies of the culprits it holds with
 * other content than this replica (the others need no reading: the same content gets the same
 * verdict). Each twin copy is weighed after the kept groups and the copies taken before it.
 */
export function chooseFixes(
  kept: readonly HealCandidate[],
  culprits: readonly HealCandidate[],
  twin: { readonly content: TwinContent; readonly versions: ReadonlyMap<string, StoredGroup> } | undefined,
  find: FindInconsistent = findInconsistentGroups,
): HealFix[] {
  const offered = culprits.filter((c) => twin?.versions.has(c.canonical) === true);
  const refused = new Set(find([...kept.map((g) => g.stored), ...offered.map((c) => twin!.versions.get(c.canonical)!)]).map((i) => i - kept.length));
  const taken = new Set(offered.filter((_, i) => !refused.has(i)).map((c) => c.canonical));
  return culprits.map((c): HealFix => {
    if (taken.has(c.canonical)) return { kind: 'copy', canonical: c.canonical, why: `${CULPRIT}; the twin's copy is consistent with them` };
    const held = twin?.content.get(c.canonical);
    const reason =
      twin === undefined
        ? 'no twin could be read'
        : held === undefined
          ? 'the twin does not hold it'
          : held === c.content
            ? 'the twin holds the same copy'
            : "the twin's copy is inconsistent with them too";
    return { kind: 'remove', canonical: c.canonical, why: `${CULPRIT}; ${reason}` };
  });
}

export interface HealContext {
  readonly suspects: SuspectStore;
  /** Requests in flight at once. */
  readonly concurrency: number;
  /** How long to wait for the scrape to answer 200 once the writes are sent (a Pushgateway applies them later). */
  readonly settleMs: number;
}

export interface HealOutcome {
  readonly actions: readonly HealAction[];
  /** Writes that failed (each leaves its culprit in place). */
  readonly failed: number;
  /** The scrape answered 200 when the heal was done. */
  readonly healed: boolean;
  /** Why it is not healed: nothing found, a read that failed, or what the scrape still says. */
  readonly reason: string;
}

interface HeldGroup extends HealCandidate {
  /** The grouping labels: enough to delete it. */
  readonly labels: ApiGroup['labels'];
}

/** Heals `backend` (its scrape found broken) with the help of `twin`, another replica of its shard. */
export async function healReplica(backend: Backend, twin: Backend | undefined, context: HealContext): Promise<HealOutcome> {
  const held: HeldGroup[] = [];
  for await (const group of backend.streamGroups()) held.push(candidateOf(group));
  const twinContent = twin === undefined ? undefined : await readContent(twin).catch(() => undefined);
  const { kept, culprits } = findCulprits(held, twinContent);
  if (culprits.length === 0)
    return { actions: [], failed: 0, healed: (await backend.probeScrape()) === 'ok', reason: `no group found inconsistent; ${backend.scrapeReason}` };

  const differing = culprits.filter((c) => twinContent?.has(c.canonical) === true && twinContent.get(c.canonical) !== c.content);
  const texts =
    twin === undefined || twinContent === undefined || differing.length === 0
      ? new Map<string, string>()
      : await readGroups(twin, new Set(differing.map((c) => c.canonical))).catch(() => undefined);
  const copies = new Map<string, ApiGroup>();
  for (const [canonical, text] of texts ?? []) copies.set(canonical, JSON.parse(text) as ApiGroup);
  const versions = new Map([...copies].map(([canonical, group]) => [canonical, storedGroupOf(group)]));
  const fixes = chooseFixes(kept, culprits, twinContent === undefined || texts === undefined ? undefined : { content: twinContent, versions });

  const actions: HealAction[] = [];
  const act = (fix: HealFix, action: HealActionKind): void => {
    actions.push({ shard: backend.shard, replica: backend.replica, group: fix.canonical, action, why: fix.why });
  };
  let failed = 0;
  const byCanonical = new Map(held.map((g) => [g.canonical, g]));
  const deleted = new Set<string>();
  await runBounded(fixes, context.concurrency, async (fix) => {
    await deleteGroup(backend, byCanonical.get(fix.canonical)!).then(
      () => {
        deleted.add(fix.canonical);
        if (fix.kind === 'remove') act(fix, 'removed');
      },
      () => failed++,
    );
  });
  const toCopy = fixes.filter((f) => f.kind === 'copy' && deleted.has(f.canonical));
  if (toCopy.length > 0) {
    // A checked Pushgateway judges a push against what it holds: the copies wait for the deletes.
    await settle(backend, context.settleMs);
    // A copy carries the copy's push time: not a client's, so the replica is not a source of truth until a pass finds it in sync.
    context.suspects.mark(backend.id, Date.now());
    await runBounded(toCopy, context.concurrency, async (fix) => {
      await writeCopy(backend, copies.get(fix.canonical)!).then(
        () => act(fix, 'copied_from_twin'),
        () => failed++,
      );
    });
  }
  const healed = await settle(backend, context.settleMs);
  return { actions, failed, healed, reason: healed ? '' : backend.scrapeReason };
}

function candidateOf(group: ApiGroup): HeldGroup {
  const summary = summarizeGroup(group);
  return {
    canonical: summary.canonical,
    stored: storedGroupOf(group),
    content: summary.content,
    since: summary.pushTime > 0 ? summary.pushTime : summary.failureTime,
    labels: group.labels,
  };
}

async function readContent(backend: Backend): Promise<Map<string, string>> {
  const content = new Map<string, string>();
  for await (const group of backend.streamGroups()) {
    const summary = summarizeGroup(group);
    content.set(summary.canonical, summary.content);
  }
  return content;
}

const SETTLE_POLL_MS = 100;

/** Probes the scrape until it answers 200 or `withinMs` have passed; true when it did. */
async function settle(backend: Backend, withinMs: number): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    if ((await backend.probeScrape()) === 'ok') return true;
    if (Date.now() >= deadline) return false;
    await sleep(SETTLE_POLL_MS);
  }
}
