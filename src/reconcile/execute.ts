/**
 * Carrying a pass's actions out, `concurrency` at a time so that pushes keep flowing: a delete is
 * a DELETE of the group's path; a copy is a PUT of the group's content (core/exposition), read
 * again from its source when the copy is made (a pass keeps digests, not content: core/summary).
 */
import type { Backend } from '../backends/client.js';
import type { ApiGroup } from '../core/exposition.js';
import { formatGroupingPath } from '../core/grouping-key.js';
import type { MigrationAction } from '../core/migrate.js';
import { groupingKeyOf, type RepairAction } from '../core/repair.js';
import type { CopyOn } from '../core/signatures.js';
import { summarizeGroup, type GroupSummary } from '../core/summary.js';
import { readGroups } from './read.js';
import type { SuspectStore } from './suspects.js';
import type { Written } from './written.js';
import { writeCopy } from './copy-group.js';

type Action = RepairAction | MigrationAction;
type Copy = Extract<Action, { kind: 'copy' }>;

export interface ExecuteContext {
  readonly concurrency: number;
  readonly suspects: SuspectStore;
  readonly written: Written;
  /** The replicas read by the pass, by id. */
  readonly backends: ReadonlyMap<string, Backend>;
  /** What the pass read, which the plan came from. */
  readonly copyOn: CopyOn;
  /** Since when a replica was suspect when the pass read it. */
  suspectAtRead(replica: string): number | undefined;
  failed?(action: Action, error: string): void;
}

export async function deleteGroup(backend: Backend, group: Pick<ApiGroup, 'labels'>): Promise<void> {
  const res = await backend.call('DELETE', pathOf(group));
  if (res.status >= 300) throw new Error(`DELETE answered ${res.status}: ${res.body.trim()}`);
}

/**
 * Carries `actions` out; `done` hears of each one carried out, with what a copy wrote. Returns
 * how many failed. An action found moot (its group gone from the source since, or the source
 * suspect since) is skipped: the next pass plans again from fresh reads.
 */
export async function carryOut<A extends Action>(
  actions: readonly A[],
  context: ExecuteContext,
  done: (action: A, copied?: GroupSummary) => void,
): Promise<number> {
  let failures = 0;
  const attempt = async (action: A, work: () => Promise<void>): Promise<void> => {
    await work().catch((err: Error) => {
      failures++;
      context.failed?.(action, err.message);
    });
  };
  const deletes = actions.filter((a): a is A & Extract<Action, { kind: 'delete' }> => a.kind === 'delete');
  await runBounded(deletes, context.concurrency, (action) =>
    attempt(action, async () => {
      const held = context.copyOn(action.on, action.canonical);
      if (held === undefined) return;
      await deleteGroup(context.backends.get(action.on)!, held.group);
      done(action);
    }),
  );
  // One source at a time: only its groups to copy are held.
  const bySource = new Map<string, Array<A & Copy>>();
  for (const action of actions) {
    if (!isCopy(action)) continue;
    const copies = bySource.get(action.from) ?? [];
    if (copies.length === 0) bySource.set(action.from, copies);
    copies.push(action);
  }
  for (const [from, copies] of bySource) {
    const source = await readGroups(context.backends.get(from)!, new Set(copies.map((c) => c.canonical))).catch((err: Error) => err);
    if (source instanceof Error) {
      for (const action of copies) await attempt(action, () => Promise.reject(new Error(`cannot read the source ${from}: ${source.message}`)));
      continue;
    }
    await runBounded(copies, context.concurrency, (action) =>
      attempt(action, async () => {
        const text = source.get(action.canonical);
        if (text === undefined) return;
        const group = JSON.parse(text) as ApiGroup;
        // A source read as trusted that missed a write since (it failed while the pass ran) may be
        // older than a push only the target got: copying it now could overwrite that push.
        if (context.suspectAtRead(from) === undefined && context.suspects.since(from) !== undefined) return;
        // The copy gets the copy's push time: until a pass finds it in sync, its push times are not
        // client push times, so it must not be anyone's source of truth.
        context.suspects.mark(action.to, Date.now());
        await writeCopy(context.backends.get(action.to)!, group);
        const copied = summarizeGroup(group);
        context.written.remember(
          action.to,
          action.canonical,
          copied.content,
          context.written.pushTimeOf(from, action.canonical, copied.content, copied.pushTime),
        );
        done(action, copied);
      }),
    );
  }
  return failures;
}

const isCopy = <A extends Action>(action: A): action is A & Copy => action.kind === 'copy';

function pathOf(group: Pick<ApiGroup, 'labels'>): string {
  return formatGroupingPath(groupingKeyOf(group));
}

/** Runs `work` over `items`, at most `limit` at once. */
export async function runBounded<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
