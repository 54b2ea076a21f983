/**
 * The consistency check of a checked Pushgateway 1.5.1, incremental, over the judge's index
 * (core/index-table.ts). STUB: the signatures every stream builds against; the rules land next.
 */
import type { ApiGroup } from './exposition.js';
import type { GroupLabels } from './grouping-key.js';
import type { FieldValue, IndexChange } from './index-table.js';
import type { PushedFamily } from './push-body.js';

export type WriteMethod = 'PUT' | 'POST' | 'DELETE';

/** A write to one group as the judge sees it. */
export interface GroupWrite {
  /** GroupingKey.canonical: the group's identity in the index. */
  readonly group: string;
  /** The group's labels, `job` included, sorted by name. */
  readonly labels: GroupLabels;
  readonly method: WriteMethod;
  /** As parsed, before the group's labels are applied; empty for DELETE. */
  readonly families: readonly PushedFamily[];
}

/** Fields of the index whose names start with this hold one group's record each. */
export const GROUP_FIELD_PREFIX = 'g:';

export interface JudgeLimits {
  /** Series the whole index may hold; a push that would pass it is refused (413-like, never stored). */
  readonly maxSeries: number;
}

export type Verdict =
  /**
   * Consistent: commit `change` before writing to the backends; if no backend stored the write,
   * commit `undo` (it expects what `change` left, so a later write to the group is never undone).
   */
  | { readonly ok: true; readonly change: IndexChange; readonly undo: IndexChange }
  /**
   * Refused as a checked Pushgateway would: `message` is its 400 body. `failure` records what a
   * checked Pushgateway stores of a refused push (push_failure_time_seconds, creating the group if
   * new); undefined when even that would leave the index inconsistent (a poison push): store nothing.
   */
  | { readonly ok: false; readonly kind: 'inconsistent'; readonly message: string; readonly failure: IndexChange | undefined }
  /** The index is full (JudgeLimits.maxSeries). */
  | { readonly ok: false; readonly kind: 'full'; readonly maxSeries: number };

/** Every field judgeWrite(write, …) reads. */
export function fieldsOf(_write: GroupWrite): string[] {
  throw new Error('core/judge: not implemented yet');
}

/** Judges `write` against the index as `read` shows it (read must answer every field of fieldsOf(write)). */
export function judgeWrite(_write: GroupWrite, _read: (field: string) => FieldValue, _limits: JudgeLimits): Verdict {
  throw new Error('core/judge: not implemented yet');
}

/** A group as a backend holds it (index building, drift repair). */
export interface StoredGroup {
  readonly group: string;
  readonly labels: GroupLabels;
  /** As the backend holds them: push_time_seconds and push_failure_time_seconds included. */
  readonly families: readonly PushedFamily[];
}

/** Every field restoreGroup(stored, …) reads. */
export function fieldsOfStored(_stored: StoredGroup): string[] {
  throw new Error('core/judge: not implemented yet');
}

/**
 * The change that makes the index hold `stored` as its record of that group (an empty change when
 * it already does), or the first conflict of it with the rest of the index.
 */
export function restoreGroup(
  _stored: StoredGroup,
  _read: (field: string) => FieldValue,
): { readonly ok: true; readonly change: IndexChange } | { readonly ok: false; readonly message: string } {
  throw new Error('core/judge: not implemented yet');
}

/** The change that removes a group's record (`record`: the value of its GROUP_FIELD_PREFIX field) and all it holds. */
export function forgetGroup(_group: string, _record: string): IndexChange {
  throw new Error('core/judge: not implemented yet');
}

/** Indexes, in order, of the groups that conflict with the groups before them (a backend's healing). */
export function findInconsistentGroups(_groups: readonly StoredGroup[]): number[] {
  throw new Error('core/judge: not implemented yet');
}

/** A group of /api/v1/metrics as the judge's model. */
export function storedGroupOf(_api: ApiGroup): StoredGroup {
  throw new Error('core/judge: not implemented yet');
}
