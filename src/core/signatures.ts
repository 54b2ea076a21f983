/**
 * What a difference looks like, so that the next pass can tell whether it sees the same one.
 * Replicas are read moments apart: under continuous pushes a group can differ only because a
 * push landed between two reads, and the next push fixes that by itself. A content difference is
 * acted on only when the next pass sees it again (reconcile/confirmations).
 */
import type { MigrationAction } from './migrate.js';
import type { RepairAction } from './repair.js';
import { digestOf, type GroupSummary } from './summary.js';

/** What a replica holds of a group, as the pass read it. */
export type CopyOn = (replica: string, canonical: string) => GroupSummary | undefined;

/**
 * One digest per metric family that differs (a POST changes some families and leaves the others,
 * so a stale family stays recognisable while the group's other families keep changing).
 * Undefined for actions taken at once: a repair copy to a replica that lacks the group, expiry,
 * the delete phase.
 */
export function signaturesOf(action: RepairAction | MigrationAction, copyOn: CopyOn): string[] | undefined {
  const on = (replica: string): GroupSummary | undefined => copyOn(replica, action.canonical);
  const digest = (...parts: string[]): string => digestOf(parts.join('\u0000'));
  if (action.kind === 'delete') {
    if ('reason' in action ? action.reason !== 'deleted-while-away' : !action.confirm) return undefined;
    return [digest('delete', action.canonical, action.on, on(action.on)?.content ?? '')];
  }
  const source = on(action.from);
  const target = on(action.to);
  if (target === undefined) return 'reason' in action ? undefined : [digest('missing', action.canonical, action.to, source?.content ?? '')];
  const [was, is] = [source?.families ?? new Map<string, string>(), target.families];
  const differing = [...new Set([...was.keys(), ...is.keys()])].filter((name) => was.get(name) !== is.get(name));
  return differing.map((name) => digest('copy', action.canonical, action.to, name, was.get(name) ?? '', is.get(name) ?? ''));
}
