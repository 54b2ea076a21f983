/**
 * What a reconciler pass keeps of one copy of a group: digests of its content, not the content.
 * A pass plans from these (a shard's groups while it is read, the moving groups of a ring change
 * across shards) and reads a copy's source again to write it (reconcile/execute).
 */
import { hash } from 'node:crypto';
import type { ApiGroup } from './exposition.js';
import { toGroupCopy, type GroupCopy } from './repair.js';

/**
 * A GroupCopy whose `content` and `families` are digests of core/repair's (equal exactly when
 * those are), and whose `group` holds the grouping labels alone: enough for its path (a DELETE),
 * never for a copy.
 */
export type GroupSummary = GroupCopy;

/**
 * ~450 bytes a copy, a third of a parsed group: a shard of 25,000 groups on two replicas is
 * summarised in ~25 MB. The families' digests are kept as one string (a Map costs ~200 bytes
 * more) and made a Map when asked for: only the groups that differ are.
 */
class Summary implements GroupSummary {
  constructor(
    readonly canonical: string,
    readonly job: string,
    readonly group: ApiGroup,
    readonly pushTime: number,
    readonly failureTime: number,
    readonly content: string,
    /** `name digest name digest …`: metric names and base64 hold no space. */
    readonly familyDigests: string,
  ) {}

  get families(): ReadonlyMap<string, string> {
    const parts = this.familyDigests === '' ? [] : this.familyDigests.split(' ');
    const families = new Map<string, string>();
    for (let i = 0; i < parts.length; i += 2) families.set(parts[i]!, parts[i + 1]!);
    return families;
  }
}

export function summarizeGroup(group: ApiGroup): GroupSummary {
  const copy = toGroupCopy(group);
  const families: string[] = [];
  for (const [name, family] of copy.families) families.push(name, digestOf(family));
  // The grouping key is built by concatenation: flat, it takes ~60 bytes instead of ~250 (V8).
  copy.canonical.charCodeAt(0);
  return new Summary(copy.canonical, copy.job, { labels: group.labels }, copy.pushTime, copy.failureTime, digestOf(copy.content), families.join(' '));
}

/** The same copy, standing for another push time (reconcile/written). */
export function withPushTime(summary: GroupSummary, pushTime: number): GroupSummary {
  if (!(summary instanceof Summary)) return { ...summary, pushTime };
  return new Summary(summary.canonical, summary.job, summary.group, pushTime, summary.failureTime, summary.content, summary.familyDigests);
}

export function digestOf(text: string): string {
  return hash('sha256', text, 'base64');
}
