/**
 * The consistency check of a checked Pushgateway 1.5.1, incremental, over the judge's index
 * (core/index-table.ts, layout in core/judge-record.ts, rules and argument in docs/judging.md).
 *
 * A checked Pushgateway applies a push to a copy of its store and gathers everything
 * (storage/diskmetricstore.go checkWriteRequest; client_golang v1.14.0 Gatherers.Gather). Its
 * verdict only depends on pairs of families of one name or of suffix-related names, and on series
 * identities, so the judge looks at what the push changes and at counters of what other groups hold.
 * Where the Pushgateway's verdict depends on Go's random map order (the type of a merged family is
 * that of whichever group comes first), the judge refuses whenever some order fails: such a store
 * answers some scrapes with a 500.
 */
import type { ApiGroup } from './exposition.js';
import { familiesOf } from './exposition.js';
import { goQuote, isValidLabelName, makeGroupingKey, type GroupLabels } from './grouping-key.js';
import type { FieldValue, IndexChange } from './index-table.js';
import {
  CHECKED_TYPES,
  SERIES_COUNT_FIELD,
  VALUE_OF_TYPE,
  decodeRecord,
  encodeRecord,
  groupField,
  holdersField,
  labelsKeyOf,
  filledField,
  labelsOfGroup,
  seriesField,
  typeField,
  type RecordFamily,
} from './judge-record.js';
import { VALUE_COUNTER, VALUE_GAUGE, VALUE_HISTOGRAM, VALUE_SUMMARY, VALUE_UNTYPED, type MetricType, type PushedFamily } from './push-body.js';
import { PUSHGATEWAY_OWN_FAMILIES } from './pushgateway-own.js';

export { GROUP_FIELD_PREFIX, SERIES_COUNT_FIELD } from './judge-record.js';

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

/** handler/push.go: every refusal of the check starts so. */
export const REFUSAL_PREFIX = 'pushed metrics are invalid or inconsistent with existing metrics: ';
/** storage/diskmetricstore.go errTimestamp. */
export const TIMESTAMP_ERROR = 'pushed metrics must not have timestamps';

const PUSH_TIME = 'push_time_seconds';
const PUSH_FAILURE_TIME = 'push_failure_time_seconds';

/** A group's families by name, as the index records them. */
type GroupState = ReadonlyMap<string, RecordFamily>;

/** Every field judgeWrite(write, …) reads. */
export function fieldsOf(write: GroupWrite): string[] {
  const fields = new Set<string>([groupField(write.group), SERIES_COUNT_FIELD]);
  if (write.method === 'DELETE') return [...fields];
  for (const family of write.families) {
    if (family.name === PUSH_TIME) continue;
    addConditionFields(fields, family.name, family.type, family.metrics.length > 0);
    for (const metric of family.metrics) fields.add(seriesField(family.name, labelsKeyOf(sanitizeLabels(metric.labels, write.labels))));
  }
  // The Pushgateway's own two gauges, written on success and on refusal alike.
  const key = labelsKeyOf(sanitizeLabels([], write.labels));
  for (const name of [PUSH_TIME, PUSH_FAILURE_TIME]) {
    addConditionFields(fields, name, 'GAUGE', true);
    fields.add(seriesField(name, key));
  }
  return [...fields];
}

/** Judges `write` against the index as `read` shows it (read must answer every field of fieldsOf(write)). */
export function judgeWrite(write: GroupWrite, read: (field: string) => FieldValue, limits: JudgeLimits): Verdict {
  const record = read(groupField(write.group));
  const old = record === undefined ? undefined : stateOf(write.labels, record);
  if (write.method === 'DELETE') {
    // processWriteRequest: a delete removes the group; checkWriteRequest passes it unchecked.
    return { ok: true, change: planTransition(write.group, write.labels, old, undefined), undo: planTransition(write.group, write.labels, undefined, old) };
  }
  if (write.families.some((family) => family.metrics.some((metric) => metric.hasTimestamp))) {
    return refuse(write, old, read, [TIMESTAMP_ERROR]);
  }

  const errors: string[] = [];
  const next = new Map<string, RecordFamily>();
  if (old !== undefined) {
    for (const [name, family] of old) {
      // processWriteRequest: a PUT keeps only the Pushgateway's own two gauges of the old group.
      if (write.method === 'POST' || name === PUSH_TIME || name === PUSH_FAILURE_TIME) next.set(name, family);
    }
  }
  for (const pushed of write.families) {
    // push_time_seconds is always the Pushgateway's own; a pushed push_failure_time_seconds only
    // survives in a group that already has one.
    if (pushed.name === PUSH_TIME || (pushed.name === PUSH_FAILURE_TIME && old?.has(PUSH_FAILURE_TIME) !== true)) continue;
    const metrics = pushed.metrics.map((metric) => ({ labels: sanitizeLabels(metric.labels, write.labels), values: metric.values }));
    const family = checkFamily(pushed.name, pushed.type, pushed.help, metrics, errors);
    if (family !== undefined) next.set(family.name, family);
  }
  next.set(PUSH_TIME, timestampFamily(PUSH_TIME, write.labels));
  if (!next.has(PUSH_FAILURE_TIME)) next.set(PUSH_FAILURE_TIME, timestampFamily(PUSH_FAILURE_TIME, write.labels));
  const state = sortState(next);

  errors.push(...findConflicts(write.group, old, state, read));
  if (errors.length > 0) return refuse(write, old, read, errors);

  const change = planTransition(write.group, write.labels, old, state);
  const growth = seriesCount(state) - (old === undefined ? 0 : seriesCount(old));
  if (growth > 0 && Number(read(SERIES_COUNT_FIELD) ?? '0') + growth > limits.maxSeries) return { ok: false, kind: 'full', maxSeries: limits.maxSeries };
  return { ok: true, change, undo: planTransition(write.group, write.labels, state, old) };
}

/** A group as a backend holds it (index building, drift repair). */
export interface StoredGroup {
  readonly group: string;
  readonly labels: GroupLabels;
  /** As the backend holds them: push_time_seconds and push_failure_time_seconds included. */
  readonly families: readonly PushedFamily[];
}

/** Every field restoreGroup(stored, …) reads. */
export function fieldsOfStored(stored: StoredGroup): string[] {
  const fields = new Set<string>([groupField(stored.group)]);
  for (const family of stored.families) {
    addConditionFields(fields, family.name, family.type, family.metrics.length > 0);
    for (const metric of family.metrics) fields.add(seriesField(family.name, labelsKeyOf(sortLabels(metric.labels))));
  }
  return [...fields];
}

/**
 * The change that makes the index hold `stored` as its record of that group (an empty change when
 * it already does), or the first conflict of it with the rest of the index.
 */
export function restoreGroup(
  stored: StoredGroup,
  read: (field: string) => FieldValue,
): { readonly ok: true; readonly change: IndexChange } | { readonly ok: false; readonly message: string } {
  const record = read(groupField(stored.group));
  const old = record === undefined ? undefined : stateOf(stored.labels, record);
  const errors: string[] = [];
  const next = new Map<string, RecordFamily>();
  for (const family of stored.families) {
    const metrics = family.metrics.map((metric) => ({ labels: sortLabels(metric.labels), values: metric.values }));
    // A backend's help for a predefined name is the pushed one: it substitutes its own only when gathering.
    const checked = checkFamily(family.name, family.type, family.help, metrics, errors);
    if (checked !== undefined) next.set(checked.name, checked);
  }
  const state = sortState(next);
  errors.push(...findConflicts(stored.group, old, state, read));
  if (errors.length > 0) return { ok: false, message: REFUSAL_PREFIX + formatErrors(errors) };
  return { ok: true, change: planTransition(stored.group, stored.labels, old, state) };
}

/** The change that removes a group's record (`record`: the value of its GROUP_FIELD_PREFIX field) and all it holds. */
export function forgetGroup(group: string, record: string): IndexChange {
  const labels = labelsOfGroup(group);
  return planTransition(group, labels, stateOf(labels, record), undefined);
}

/** Indexes, in order, of the groups that conflict with the groups before them (a backend's healing). */
export function findInconsistentGroups(groups: readonly StoredGroup[]): number[] {
  const table = new Map<string, string>();
  const read = (field: string): FieldValue => table.get(field);
  const out: number[] = [];
  groups.forEach((stored, i) => {
    const restored = restoreGroup(stored, read);
    if (restored.ok) applyToTable(table, restored.change);
    else out.push(i);
  });
  return out;
}

/** A group of /api/v1/metrics as the judge's model. */
export function storedGroupOf(api: ApiGroup): StoredGroup {
  const key = makeGroupingKey(new Map(Object.entries(api.labels)));
  const families: PushedFamily[] = [];
  for (const [name, family] of familiesOf(api)) {
    const type = family.type as MetricType;
    // The API shows a metric by its family's type: a missing value field is not visible in it.
    const values = VALUE_OF_TYPE[type];
    families.push({
      name,
      help: family.help ?? '',
      type,
      metrics: family.metrics.map((metric) => ({ labels: Object.entries(metric.labels ?? {}), values, hasTimestamp: false })),
    });
  }
  return { group: key.canonical, labels: key.labels, families };
}

// ---------------------------------------------------------------------------------------------
// The rules.

interface CheckedMetric {
  /** Sorted by name; duplicates kept (they are an error). */
  readonly labels: ReadonlyArray<readonly [string, string]>;
  readonly values: number;
}

/**
 * One family against the rules that need nothing but itself and the Pushgateway's own families:
 * client_golang v1.14.0 Gatherers.Gather (help and type against an existing family of the name),
 * checkSuffixCollisions against the Pushgateway's own families, checkMetricConsistency for each
 * metric, plus what would break a scrape or the API of a Pushgateway 1.5.1 that accepted it.
 * Appends its errors; returns the family as recorded, or undefined when it has errors.
 */
function checkFamily(name: string, type: MetricType, help: string, metrics: readonly CheckedMetric[], errors: string[]): RecordFamily | undefined {
  const before = errors.length;
  if (!isValidMetricName(name)) {
    // A checked 1.5.1 accepts it from protobuf, then its /metrics holds a line Prometheus cannot parse.
    errors.push(`metric family ${goQuote(name)} has an invalid metric name`);
    return undefined;
  }
  if (type === 'GAUGE_HISTOGRAM') {
    // A checked 1.5.1 accepts it; its text encoder then stops at "# TYPE <name>", truncating every scrape.
    errors.push(`metric family ${goQuote(name)} is a GAUGE_HISTOGRAM, which this Pushgateway cannot expose`);
    return undefined;
  }
  if (name === PUSH_FAILURE_TIME && metrics.length === 0) {
    // LastPushSuccess reads its first metric: /api/v1/metrics and the status page panic without one.
    errors.push(`metric family ${PUSH_FAILURE_TIME} without metrics breaks the Pushgateway's /api/v1/metrics`);
    return undefined;
  }
  const own = PUSHGATEWAY_OWN_FAMILIES.get(name);
  if (own !== undefined) {
    if (!own.presentAtStart && help !== own.help) {
      errors.push(`gathered metric family ${name} has help ${goQuote(help)} but should have ${goQuote(own.help)}`);
      return undefined;
    }
    if (type !== own.type) {
      errors.push(`gathered metric family ${name} has type ${type} but should have ${own.type}`);
      return undefined;
    }
  } else {
    const collision = findOwnSuffixCollision(name, type);
    if (collision !== undefined) {
      errors.push(collision);
      return undefined;
    }
  }

  const want = VALUE_OF_TYPE[type];
  const seen = new Set<string>();
  const entries: Array<{ labels: ReadonlyArray<readonly [string, string]>; key: string }> = [];
  for (const metric of metrics) {
    if ((metric.values & want) === 0) {
      errors.push(`collected metric ${goQuote(name)} ${formatMetric(metric)} is not a ${type}`);
      continue;
    }
    const labelError = checkLabels(metric);
    if (labelError !== undefined) {
      errors.push(`collected metric ${goQuote(name)} ${formatMetric(metric)} ${labelError}`);
      continue;
    }
    const key = labelsKeyOf(metric.labels);
    if (seen.has(key)) {
      errors.push(`collected metric ${goQuote(name)} ${formatMetric(metric)} was collected before with the same name and label values`);
      continue;
    }
    seen.add(key);
    entries.push({ labels: metric.labels, key });
  }
  if (errors.length > before) return undefined;
  entries.sort((a, b) => compare(a.key, b.key));
  return { name, type, series: entries.map((e) => e.labels), keys: entries.map((e) => e.key) };
}

/** checkMetricConsistency's loop over a metric's (sorted) labels. */
function checkLabels(metric: CheckedMetric): string | undefined {
  let previous = '';
  for (const [name, value] of metric.labels) {
    if (name === previous) return `has two or more labels with the same name: ${name}`;
    if (!isValidLabelName(name) || name.startsWith('__')) return `has a label with an invalid name: ${name}`;
    if ((metric.values & VALUE_SUMMARY) !== 0 && name === 'quantile') return 'must not have an explicit "quantile" label';
    // The parsers turn bytes that are not UTF-8 into lone surrogates.
    if (!value.isWellFormed()) return `has a label named ${goQuote(name)} whose value is not utf8: ${goQuote(value.toWellFormed())}`;
    previous = name;
  }
  return undefined;
}

/** checkSuffixCollisions of a pushed name against the Pushgateway's own families (gathered first). */
function findOwnSuffixCollision(name: string, type: MetricType): string | undefined {
  const base = baseOf(name);
  if (base !== undefined) {
    const own = PUSHGATEWAY_OWN_FAMILIES.get(base.name)?.type;
    if (own === 'SUMMARY' && base.suffix !== '_bucket')
      return `collected metric named ${goQuote(name)} collides with previously collected summary named ${goQuote(base.name)}`;
    if (own === 'HISTOGRAM') return `collected metric named ${goQuote(name)} collides with previously collected histogram named ${goQuote(base.name)}`;
  }
  for (const suffix of suffixesOf(type)) {
    if (PUSHGATEWAY_OWN_FAMILIES.has(name + suffix)) return suffixMessage(name, type, suffix);
  }
  return undefined;
}

function suffixMessage(name: string, type: MetricType, suffix: string): string {
  return type === 'HISTOGRAM' && suffix === '_bucket'
    ? `collected histogram named ${goQuote(name)} collides with previously collected metric named ${goQuote(name + suffix)}`
    : `collected histogram or summary named ${goQuote(name)} collides with previously collected metric named ${goQuote(name + suffix)}`;
}

/** The names checkSuffixCollisions forbids beside a family of this type. */
function suffixesOf(type: MetricType): readonly string[] {
  return type === 'HISTOGRAM' ? ['_count', '_sum', '_bucket'] : type === 'SUMMARY' ? ['_count', '_sum'] : [];
}

/** The name checkSuffixCollisions strips one suffix from (in its order: _count, _sum, _bucket). */
function baseOf(name: string): { name: string; suffix: string } | undefined {
  for (const suffix of ['_count', '_sum', '_bucket']) {
    if (name.endsWith(suffix)) return { name: name.slice(0, -suffix.length), suffix };
  }
  return undefined;
}

/**
 * What a family of `name` and `type`, with metrics or without, needs no other group to hold. The
 * type of a family merged across groups is whichever group's comes first, and every metric must
 * then carry that type's value field (checkMetricConsistency): so metrics of one type exclude any
 * other family of another type (t), and a family without metrics excludes metrics of another type
 * (f). checkSuffixCollisions both ways. The judge takes each metric to carry its own type's value
 * field only, as /api/v1/metrics shows it (docs/judging.md: what the index can be rebuilt from).
 */
function conditionFields(name: string, type: MetricType, filled: boolean): string[] {
  const fields: string[] = [];
  for (const other of CHECKED_TYPES) {
    if (other !== type) fields.push(filled ? typeField(name, other) : filledField(name, other));
  }
  const base = baseOf(name);
  if (base !== undefined) {
    if (base.suffix !== '_bucket') fields.push(typeField(base.name, 'SUMMARY'));
    fields.push(typeField(base.name, 'HISTOGRAM'));
  }
  for (const suffix of suffixesOf(type)) fields.push(holdersField(name + suffix));
  return fields;
}

function addConditionFields(fields: Set<string>, name: string, type: MetricType, filled: boolean): void {
  for (const field of conditionFields(name, type, filled)) fields.add(field);
}

/** The counters a group's family adds to: one per field. */
function contributionsOf(family: RecordFamily): string[] {
  const fields = [typeField(family.name, family.type), holdersField(family.name)];
  if (family.keys.length > 0) fields.push(filledField(family.name, family.type));
  return fields;
}

function contributionMap(state: GroupState | undefined): Map<string, number> {
  const out = new Map<string, number>();
  if (state === undefined) return out;
  for (const family of state.values()) for (const field of contributionsOf(family)) out.set(field, 1);
  return out;
}

/** A family of `to` needs its conditions checked unless `from` held it with the same type, filled or not alike. */
function isChanged(family: RecordFamily, from: GroupState | undefined): boolean {
  const old = from?.get(family.name);
  return old === undefined || old.type !== family.type || old.keys.length > 0 !== family.keys.length > 0;
}

/**
 * What holds in the group's new state against other groups and itself, as errors: conditions of
 * each changed family (counters minus the group's own old share), suffix collisions inside the
 * group, and every new series against the group holding it.
 */
function findConflicts(group: string, from: GroupState | undefined, to: GroupState, read: (field: string) => FieldValue): string[] {
  const errors: string[] = [];
  const own = contributionMap(from);
  const others = (field: string): number => Number(read(field) ?? '0') - (own.get(field) ?? 0);
  for (const family of to.values()) {
    if (!isChanged(family, from)) continue;
    const { name, type } = family;
    const first = family.series[0];
    for (const other of CHECKED_TYPES) {
      if (other === type) continue;
      if (first !== undefined && others(typeField(name, other)) > 0) {
        // What Go reports when the other group's family comes first.
        errors.push(`collected metric ${goQuote(name)} ${formatMetric({ labels: first, values: VALUE_OF_TYPE[type] })} is not a ${other}`);
      } else if (first === undefined && others(filledField(name, other)) > 0) {
        errors.push(`metric family ${goQuote(name)} of type ${type} without metrics: metrics of type ${other} of that name in other groups are not a ${type}`);
      }
    }
    const base = baseOf(name);
    if (base !== undefined) {
      const inGroup = to.get(base.name)?.type;
      if (base.suffix !== '_bucket' && (inGroup === 'SUMMARY' || others(typeField(base.name, 'SUMMARY')) > 0)) {
        errors.push(`collected metric named ${goQuote(name)} collides with previously collected summary named ${goQuote(base.name)}`);
      }
      if (inGroup === 'HISTOGRAM' || others(typeField(base.name, 'HISTOGRAM')) > 0) {
        errors.push(`collected metric named ${goQuote(name)} collides with previously collected histogram named ${goQuote(base.name)}`);
      }
    }
    for (const suffix of suffixesOf(type)) {
      if (to.has(name + suffix) || others(holdersField(name + suffix)) > 0) errors.push(suffixMessage(name, type, suffix));
    }
  }
  const held = seriesFieldsOf(from);
  for (const family of to.values()) {
    family.keys.forEach((key, i) => {
      const field = seriesField(family.name, key);
      if (held.has(field)) return;
      const holder = read(field);
      if (holder !== undefined && holder !== group) {
        errors.push(
          `collected metric ${goQuote(family.name)} ${formatMetric({ labels: family.series[i]!, values: VALUE_OF_TYPE[family.type] })} was collected before with the same name and label values (group ${holder})`,
        );
      }
    });
  }
  return errors;
}

/**
 * The change from one state of a group to another. Its expectations follow from the two states
 * alone: the group's record as it was (writes to one group serialize), each changed family's
 * condition counters at the group's own old share (no other holder), each new series absent.
 */
function planTransition(group: string, labels: GroupLabels, from: GroupState | undefined, to: GroupState | undefined): IndexChange {
  const field = groupField(group);
  const fromRecord = from === undefined ? undefined : encodeState(labels, from);
  const toRecord = to === undefined ? undefined : encodeState(labels, to);
  const expect = new Map<string, FieldValue>([[field, fromRecord]]);
  if (fromRecord === toRecord) return { expect: [...expect], set: [], add: [] };

  const own = contributionMap(from);
  const set: Array<[string, FieldValue]> = [[field, toRecord]];
  if (to !== undefined) {
    for (const family of to.values()) {
      if (!isChanged(family, from)) continue;
      for (const condition of conditionFields(family.name, family.type, family.keys.length > 0)) {
        expect.set(condition, own.has(condition) ? '1' : undefined);
      }
    }
  }
  const fromSeries = seriesFieldsOf(from);
  const toSeries = seriesFieldsOf(to);
  for (const series of toSeries) {
    if (fromSeries.has(series)) continue;
    expect.set(series, undefined);
    set.push([series, group]);
  }
  for (const series of fromSeries) if (!toSeries.has(series)) set.push([series, undefined]);

  const deltas = new Map<string, number>();
  for (const counter of own.keys()) deltas.set(counter, -1);
  for (const counter of contributionMap(to).keys()) deltas.set(counter, (deltas.get(counter) ?? 0) + 1);
  const add: Array<[string, number]> = [];
  for (const [counter, delta] of deltas) if (delta !== 0) add.push([counter, delta]);
  const growth = toSeries.size - fromSeries.size;
  if (growth !== 0) add.push([SERIES_COUNT_FIELD, growth]);
  return { expect: [...expect], set, add };
}

/**
 * A refusal: the check's errors as the Pushgateway's message, and what setPushFailedTimestamp
 * would store — the group's push_failure_time_seconds replaced by a fresh one, push_time_seconds
 * added if absent, a new group created — unless that store would itself be inconsistent.
 */
function refuse(write: GroupWrite, old: GroupState | undefined, read: (field: string) => FieldValue, errors: readonly string[]): Verdict {
  const next = new Map(old ?? []);
  next.set(PUSH_FAILURE_TIME, timestampFamily(PUSH_FAILURE_TIME, write.labels));
  if (!next.has(PUSH_TIME)) next.set(PUSH_TIME, timestampFamily(PUSH_TIME, write.labels));
  const state = sortState(next);
  const poisoned = findConflicts(write.group, old, state, read).length > 0;
  return {
    ok: false,
    kind: 'inconsistent',
    message: REFUSAL_PREFIX + formatErrors(errors),
    failure: poisoned ? undefined : planTransition(write.group, write.labels, old, state),
  };
}

// ---------------------------------------------------------------------------------------------
// Helpers.

/**
 * storage/diskmetricstore.go sanitizeLabels: the group's labels set on every metric (overwriting
 * a body label of the same name), `instance=""` added when absent, sorted by name.
 */
function sanitizeLabels(body: ReadonlyArray<readonly [string, string]>, group: GroupLabels): Array<readonly [string, string]> {
  const out: Array<readonly [string, string]> = [];
  let hasInstance = false;
  const done = new Set<string>();
  for (const [name, value] of body) {
    const grouping = group.find(([n]) => n === name);
    if (grouping !== undefined && !done.has(name)) {
      // Only the first label of a grouping name is overwritten; a second one is a duplicate anyway.
      out.push(grouping);
      done.add(name);
    } else out.push([name, value]);
    if (name === 'instance') hasInstance = true;
  }
  for (const pair of group) {
    if (done.has(pair[0])) continue;
    out.push(pair);
    if (pair[0] === 'instance') hasInstance = true;
  }
  if (!hasInstance) out.push(['instance', '']);
  return sortLabels(out);
}

function sortLabels(labels: ReadonlyArray<readonly [string, string]>): Array<readonly [string, string]> {
  return [...labels].sort((a, b) => compare(a[0], b[0]));
}

/** newTimestampGauge: one gauge metric with the group's labels. */
function timestampFamily(name: string, labels: GroupLabels): RecordFamily {
  const pairs = sanitizeLabels([], labels);
  return { name, type: 'GAUGE', series: [pairs], keys: [labelsKeyOf(pairs)] };
}

function stateOf(labels: GroupLabels, record: string): GroupState {
  return new Map(decodeRecord(labels, record).map((family) => [family.name, family]));
}

function sortState(state: Map<string, RecordFamily>): GroupState {
  return new Map([...state].sort((a, b) => compare(a[0], b[0])));
}

function encodeState(labels: GroupLabels, state: GroupState): string {
  return encodeRecord(labels, [...state.values()]);
}

function seriesCount(state: GroupState): number {
  let n = 0;
  for (const family of state.values()) n += family.keys.length;
  return n;
}

function seriesFieldsOf(state: GroupState | undefined): Set<string> {
  const out = new Set<string>();
  if (state === undefined) return out;
  for (const family of state.values()) for (const key of family.keys) out.add(seriesField(family.name, key));
  return out;
}

/** applyChange without its expectations: the table is built by one writer here. */
function applyToTable(table: Map<string, string>, change: IndexChange): void {
  for (const [field, value] of change.set) {
    if (value === undefined) table.delete(field);
    else table.set(field, value);
  }
  for (const [field, delta] of change.add) {
    const next = Number(table.get(field) ?? '0') + delta;
    if (next > 0) table.set(field, String(next));
    else table.delete(field);
  }
}

/** MultiError.Error() of client_golang, or the error itself when there is one (MaybeUnwrap). */
function formatErrors(errors: readonly string[]): string {
  if (errors.length === 1) return errors[0]!;
  return `${errors.length} error(s) occurred:` + errors.map((e) => '\n* ' + e).join('');
}

const VALUE_FIELDS: ReadonlyArray<readonly [number, string]> = [
  [VALUE_GAUGE, 'gauge'],
  [VALUE_COUNTER, 'counter'],
  [VALUE_SUMMARY, 'summary'],
  [VALUE_UNTYPED, 'untyped'],
  [VALUE_HISTOGRAM, 'histogram'],
];

/** A dto.Metric as Go's %s prints it, values left out: the judge never sees them. */
function formatMetric(metric: CheckedMetric): string {
  let out = '{ ';
  for (const [name, value] of metric.labels) out += `label:<name:${protoQuote(name)} value:${protoQuote(value)} > `;
  for (const [bit, field] of VALUE_FIELDS) if ((metric.values & bit) !== 0) out += `${field}:<> `;
  return out + '}';
}

function protoQuote(s: string): string {
  return '"' + s.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n') + '"';
}

/** `[a-zA-Z_:][a-zA-Z0-9_:]*`, Prometheus's metric name rule. */
function isValidMetricName(name: string): boolean {
  if (name.length === 0) return false;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    const ok = (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f || c === 0x3a || (i > 0 && c >= 0x30 && c <= 0x39);
    if (!ok) return false;
  }
  return true;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
