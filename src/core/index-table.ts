/**
 * The judge's index is one table of string fields (docs/judging.md). Every front door reads the
 * fields a push depends on, judges in JavaScript (core/judge.ts), and applies the outcome as one
 * IndexChange: it takes effect only if every expected field still holds what the judge saw, so two
 * front doors that judged against the same state cannot both record conflicting pushes. In memory
 * this is `applyChange` on a Map; in Redis the same semantics run as one Lua script.
 */

/** A field's value; undefined is an absent field. */
export type FieldValue = string | undefined;

export interface IndexChange {
  /** Each field must hold exactly this value (undefined: be absent) for the change to apply. */
  readonly expect: ReadonlyArray<readonly [field: string, value: FieldValue]>;
  /** Then each field is set to this value (undefined deletes it). */
  readonly set: ReadonlyArray<readonly [field: string, value: FieldValue]>;
  /**
   * Then each counter field (a decimal integer, absent = 0) is moved by this delta; a counter that
   * reaches 0 or less is deleted, so an absent counter and a zero one are the same state.
   */
  readonly add: ReadonlyArray<readonly [field: string, delta: number]>;
}

/** The reference semantics of a change, on a Map: true when it applied, false (Map untouched) when an expectation failed. */
export function applyChange(table: Map<string, string>, change: IndexChange): boolean {
  for (const [field, value] of change.expect) {
    if (table.get(field) !== value) return false;
  }
  for (const [field, value] of change.set) {
    if (value === undefined) table.delete(field);
    else table.set(field, value);
  }
  for (const [field, delta] of change.add) {
    const next = Number(table.get(field) ?? '0') + delta;
    if (next > 0) table.set(field, String(next));
    else table.delete(field);
  }
  return true;
}

/** True when a change would alter nothing: no need to commit it. */
export function isEmptyChange(change: IndexChange): boolean {
  return change.set.length === 0 && change.add.length === 0;
}
