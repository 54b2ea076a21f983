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
import { applyChange, type FieldValue, type IndexChange } from './index-table.js';
import {
  CHECKED_TYPES,
  SERIES_COUNT_FIELD,
  SERIES_FIELD_PREFIX,
  VALUE_OF_TYPE,
  decodeRecord,
  encodeRecord,
  groupField,
  holdersField,
  labelsKeyOf,
  filledField,
  flatten,
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
   * Consistent: commit `change` before writing to the backends. It claims what the write adds and
   * records the group's new state, but keeps holding what the write takes away (names, series):
   * until the write has reached the backends, a push of another group that the old state would
   * conflict with could overtake it there. Once the backends answered, commit `settle`, which lets
   * go of it; if no backend stored the write, commit `undo` instead (it expects what `change` left,
   * so a later write to the group is never undone). Applied in turn, change and settle are the
   * whole move from the old state to the new.
   */
  | { readonly ok: true; readonly change: IndexChange; readonly settle: IndexChange; readonly undo: IndexChange }
  /**
   * Refused as a checked Pushgateway would: `message` is its 400 body. `failure` records what a
   * checked Pushgateway stores of a refused push (push_failure_time_seconds, creating the group if
   * new); undefined when even that would leave the index inconsistent (a poison push) or pass
   * JudgeLimits.maxSeries: store nothing.
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

/** A group's families by name, sorted, as the index records them. */
type GroupState = ReadonlyMap<string, RecordFamily>;

/** A metric once the group's labels are applied (sanitizeLabels): sorted, duplicates kept (they are an error). */
interface CheckedMetric {
  readonly labels: ReadonlyArray<readonly [string, string]>;
  readonly values: number;
  /** labelsKeyOf(labels). */
  readonly key: string;
}

/** A write's families with their labels applied, and the fields judging it reads: computed once. */
interface PreparedWrite {
  readonly families: ReadonlyArray<{ readonly pushed: PushedFamily; readonly metrics: readonly CheckedMetric[] }>;
  readonly fields: string[];
}

// fieldsOf and judgeWrite usually see the same write one after the other: sanitize it once. One
// slot, not a WeakMap: ephemerons cost the garbage collector more than preparing a write twice.
let last: { readonly write: GroupWrite; readonly prepared: PreparedWrite } | undefined;

function prepare(write: GroupWrite): PreparedWrite {
  if (last?.write === write) return last.prepared;
  const fields = new Set<string>([groupField(write.group), SERIES_COUNT_FIELD]);
  const families: Array<{ pushed: PushedFamily; metrics: CheckedMetric[] }> = [];
  if (write.method !== 'DELETE') {
    for (const pushed of write.families) {
      if (pushed.name === PUSH_TIME) continue;
      const metrics = pushed.metrics.map((metric) => checkedMetric(sanitizeLabels(metric.labels, write.labels), metric.values));
      families.push({ pushed, metrics });
      for (const condition of conditionsOf(pushed.name, pushed.type, metrics.length > 0)) fields.add(condition.field);
      for (const metric of metrics) fields.add(seriesField(pushed.name, metric.key));
    }
    // The Pushgateway's own two gauges, written on success and on refusal alike.
    const stamp = timestampFamily(PUSH_TIME, write.labels).keys[0]!;
    for (const field of TIMESTAMP_CONDITION_FIELDS) fields.add(field);
    fields.add(seriesField(PUSH_TIME, stamp));
    fields.add(seriesField(PUSH_FAILURE_TIME, stamp));
  }
  const out = { families, fields: [...fields] };
  last = { write, prepared: out };
  return out;
}

/** Every field judgeWrite(write, …) reads. */
export function fieldsOf(write: GroupWrite): string[] {
  return [...prepare(write).fields];
}

/** Judges `write` against the index as `read` shows it (read must answer every field of fieldsOf(write)). */
export function judgeWrite(write: GroupWrite, read: (field: string) => FieldValue, limits: JudgeLimits): Verdict {
  const { families } = prepare(write);
  const record = read(groupField(write.group));
  const old = record === undefined ? undefined : stateOf(write.labels, record);
  if (write.method === 'DELETE') {
    // processWriteRequest: a delete removes the group; checkWriteRequest passes it unchecked.
    return accepted(write.group, record, old, undefined, undefined);
  }
  // checkWriteRequest looks for timestamps before anything else, in every family.
  if (write.families.some((family) => family.metrics.some((metric) => metric.hasTimestamp))) return refuse(write, record, old, read, limits, [TIMESTAMP_ERROR]);

  const errors: string[] = [];
  const next = new Map<string, RecordFamily>();
  if (old !== undefined) {
    for (const [name, family] of old) {
      // processWriteRequest: a PUT keeps only the Pushgateway's own two gauges of the old group.
      if (write.method === 'POST' || name === PUSH_TIME || name === PUSH_FAILURE_TIME) next.set(name, family);
    }
  }
  for (const { pushed, metrics } of families) {
    // A pushed push_failure_time_seconds only survives in a group that already has one.
    if (pushed.name === PUSH_FAILURE_TIME && old?.has(PUSH_FAILURE_TIME) !== true) continue;
    const family = checkFamily(pushed.name, pushed.type, pushed.help, metrics, errors);
    if (family !== undefined) next.set(family.name, family);
  }
  next.set(PUSH_TIME, timestampFamily(PUSH_TIME, write.labels));
  if (!next.has(PUSH_FAILURE_TIME)) next.set(PUSH_FAILURE_TIME, timestampFamily(PUSH_FAILURE_TIME, write.labels));
  if (!isUtf8(write.labels)) {
    // The grouping labels reach every metric, the Pushgateway's own gauges too: a value that is not
    // UTF-8 (percent-escaped or base64 in the path) fails them all, as checkMetricConsistency does.
    for (const name of [PUSH_TIME, PUSH_FAILURE_TIME]) {
      const family = next.get(name)!;
      family.series.forEach((labels, i) => {
        const metric = { labels, values: VALUE_GAUGE, key: family.keys[i]! };
        const labelError = checkLabels(metric);
        if (labelError !== undefined) errors.push(`collected metric ${goQuote(name)} ${formatMetric(metric)} ${labelError}`);
      });
    }
  }
  const state = sortState(next);
  if (errors.length === 0 && sameState(old, state)) {
    // Nothing the index holds changes (it keeps no values): nothing to check against other groups.
    const none = planChange(write.group, record, old, record, old);
    return { ok: true, change: none, settle: NOTHING, undo: none };
  }
  const toRecord = encodeRecord(write.labels, [...state.values()]);

  errors.push(...findConflicts(write.group, old, state, read));
  if (errors.length > 0) return refuse(write, record, old, read, limits, errors);
  const growth = seriesCount(state) - seriesCount(old);
  if (growth > 0 && Number(read(SERIES_COUNT_FIELD) ?? '0') + growth > limits.maxSeries) return { ok: false, kind: 'full', maxSeries: limits.maxSeries };
  return accepted(write.group, record, old, toRecord, state);
}

const NOTHING: IndexChange = Object.freeze({ expect: [], set: [], add: [] });

/** An accepted write's three changes: claim before the write, let go after it, or take it back. */
function accepted(group: string, fromRecord: FieldValue, from: GroupState | undefined, toRecord: FieldValue, to: GroupState | undefined): Verdict {
  const forward = splitChange(planChange(group, fromRecord, from, toRecord, to));
  // Taking it back: what the write claimed goes, the group's record returns; what the old state
  // held was never let go of.
  const back = splitChange(planChange(group, toRecord, to, fromRecord, from));
  const own = groupField(group);
  const undo: IndexChange = {
    expect: [[own, toRecord]],
    set: [...back.claim.set.filter(([field]) => field === own), ...back.release.set],
    add: back.release.add,
  };
  return { ok: true, change: forward.claim, settle: forward.release, undo };
}

/**
 * A change as what it claims (the group's record, new series, counters up, growth) and what it
 * lets go of (series deleted, counters down, shrinkage). Letting go has no expectations: nothing
 * else can claim what this group still holds meanwhile, and counters commute.
 */
function splitChange(change: IndexChange): { claim: IndexChange; release: IndexChange } {
  const claimSet: Array<readonly [string, FieldValue]> = [];
  const releaseSet: Array<readonly [string, FieldValue]> = [];
  for (const entry of change.set) {
    if (entry[1] === undefined && entry[0].startsWith(SERIES_FIELD_PREFIX)) releaseSet.push(entry);
    else claimSet.push(entry);
  }
  const claimAdd: Array<readonly [string, number]> = [];
  const releaseAdd: Array<readonly [string, number]> = [];
  for (const entry of change.add) (entry[1] > 0 ? claimAdd : releaseAdd).push(entry);
  return { claim: { expect: change.expect, set: claimSet, add: claimAdd }, release: { expect: [], set: releaseSet, add: releaseAdd } };
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
    for (const condition of conditionsOf(family.name, family.type, family.metrics.length > 0)) fields.add(condition.field);
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
    const metrics = family.metrics.map((metric) => checkedMetric(sortLabels(metric.labels), metric.values));
    // A backend's help for a predefined name is the pushed one: it substitutes its own only when gathering.
    const checked = checkFamily(family.name, family.type, family.help, metrics, errors);
    if (checked !== undefined) next.set(checked.name, checked);
  }
  const state = sortState(next);
  errors.push(...findConflicts(stored.group, old, state, read));
  if (errors.length > 0) return { ok: false, message: REFUSAL_PREFIX + formatErrors(errors) };
  return { ok: true, change: planChange(stored.group, record, old, encodeRecord(stored.labels, [...state.values()]), state) };
}

/** The change that removes a group's record (`record`: the value of its GROUP_FIELD_PREFIX field) and all it holds. */
export function forgetGroup(group: string, record: string): IndexChange {
  return planChange(group, record, stateOf(labelsOfGroup(group), record), undefined, undefined);
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
    // The API shows a metric by its family's type: that is the value field it is taken to carry.
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

/**
 * One family against the rules that need nothing but itself and the Pushgateway's own families:
 * client_golang v1.14.0 Gatherers.Gather (help and type against an existing family of the name),
 * checkSuffixCollisions against the Pushgateway's own families, checkMetricConsistency for each
 * metric, plus what would break a scrape or the API of a Pushgateway 1.5.1 that accepted it.
 * Appends its errors; returns the family as recorded, or undefined when it has errors.
 */
function checkFamily(name: string, type: MetricType, help: string, metrics: readonly CheckedMetric[], errors: string[]): RecordFamily | undefined {
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

  const before = errors.length;
  const want = VALUE_OF_TYPE[type];
  let seen: Set<string> | undefined;
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
    seen ??= new Set();
    if (seen.has(metric.key)) {
      errors.push(`collected metric ${goQuote(name)} ${formatMetric(metric)} was collected before with the same name and label values`);
      continue;
    }
    seen.add(metric.key);
  }
  if (errors.length > before) return undefined;
  const sorted = metrics.length < 2 ? metrics : [...metrics].sort((a, b) => compare(a.key, b.key));
  return { name, type, series: sorted.map((m) => m.labels), keys: sorted.map((m) => m.key) };
}

/** checkMetricConsistency's loop over a metric's (sorted) labels. */
function checkLabels(metric: CheckedMetric): string | undefined {
  let previous = '';
  for (const [name, value] of metric.labels) {
    if (name === previous) return `has two or more labels with the same name: ${name}`;
    if (!isValidLabelName(name) || name.startsWith('__')) return `has a label with an invalid name: ${name}`;
    if ((metric.values & VALUE_SUMMARY) !== 0 && name === 'quantile') return 'must not have an explicit "quantile" label';
    // Not checked by client_golang 1.14: the Pushgateway accepts it, then exposes `le` twice on
    // every bucket, and Prometheus fails the whole scrape ("label name "le" is not unique").
    if ((metric.values & VALUE_HISTOGRAM) !== 0 && name === 'le') return 'must not have an explicit "le" label';
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
    if (own === 'SUMMARY' && base.suffix !== '_bucket') return summaryCollision(name, base.name);
    if (own === 'HISTOGRAM') return histogramCollision(name, base.name);
  }
  for (const suffix of suffixesOf(type)) {
    if (PUSHGATEWAY_OWN_FAMILIES.has(name + suffix)) return suffixCollision(name, type, suffix);
  }
  return undefined;
}

function summaryCollision(name: string, base: string): string {
  return `collected metric named ${goQuote(name)} collides with previously collected summary named ${goQuote(base)}`;
}

function histogramCollision(name: string, base: string): string {
  return `collected metric named ${goQuote(name)} collides with previously collected histogram named ${goQuote(base)}`;
}

function suffixCollision(name: string, type: MetricType, suffix: string): string {
  return type === 'HISTOGRAM' && suffix === '_bucket'
    ? `collected histogram named ${goQuote(name)} collides with previously collected metric named ${goQuote(name + suffix)}`
    : `collected histogram or summary named ${goQuote(name)} collides with previously collected metric named ${goQuote(name + suffix)}`;
}

/** The names checkSuffixCollisions forbids beside a family of this type. */
function suffixesOf(type: MetricType): readonly string[] {
  return type === 'HISTOGRAM' ? HISTOGRAM_SUFFIXES : type === 'SUMMARY' ? SUMMARY_SUFFIXES : NO_SUFFIXES;
}
const HISTOGRAM_SUFFIXES = ['_count', '_sum', '_bucket'];
const SUMMARY_SUFFIXES = ['_count', '_sum'];
const NO_SUFFIXES: readonly string[] = [];

/** The name checkSuffixCollisions strips one suffix from (in its order: _count, _sum, _bucket). */
function baseOf(name: string): { name: string; suffix: string } | undefined {
  for (const suffix of HISTOGRAM_SUFFIXES) {
    if (name.endsWith(suffix)) return { name: name.slice(0, -suffix.length), suffix };
  }
  return undefined;
}

/**
 * A counter of the index that must hold no other group's share for a family to be recorded:
 * `t` holders of `name` with `type`, `f` those of them with metrics, `n` holders of any type.
 * `suffix`: the condition is checkSuffixCollisions' (then `name` is the other name).
 */
interface Condition {
  readonly field: string;
  readonly kind: 't' | 'f' | 'n';
  readonly name: string;
  readonly type: MetricType | undefined;
  readonly suffix: string | undefined;
}

/**
 * What a family of `name` and `type`, with metrics or without, needs no other group to hold. The
 * type of a family merged across groups is whichever group's comes first, and every metric must
 * then carry that type's value field (checkMetricConsistency): so metrics of one type exclude any
 * other family of another type (t), and a family without metrics excludes metrics of another type
 * (f). checkSuffixCollisions both ways (t of the base name, n of the suffixed ones). The judge
 * takes each metric to carry its own type's value field only, as /api/v1/metrics shows it.
 */
function conditionsOf(name: string, type: MetricType, filled: boolean): Condition[] {
  const out: Condition[] = [];
  for (const other of CHECKED_TYPES) {
    if (other === type) continue;
    const field = filled ? typeField(name, other) : filledField(name, other);
    out.push({ field, kind: filled ? 't' : 'f', name, type: other, suffix: undefined });
  }
  const base = baseOf(name);
  if (base !== undefined) {
    if (base.suffix !== '_bucket') out.push({ field: typeField(base.name, 'SUMMARY'), kind: 't', name: base.name, type: 'SUMMARY', suffix: base.suffix });
    out.push({ field: typeField(base.name, 'HISTOGRAM'), kind: 't', name: base.name, type: 'HISTOGRAM', suffix: base.suffix });
  }
  for (const suffix of suffixesOf(type)) out.push({ field: holdersField(name + suffix), kind: 'n', name: name + suffix, type: undefined, suffix });
  return out;
}

/** The error for `family` when another group (or, for suffixes, the group itself) holds a share of the condition. */
function conditionError(condition: Condition, family: RecordFamily): string {
  const name = family.name;
  if (condition.kind === 'n') return suffixCollision(name, family.type, condition.suffix!);
  if (condition.suffix !== undefined) return condition.type === 'SUMMARY' ? summaryCollision(name, condition.name) : histogramCollision(name, condition.name);
  if (condition.kind === 't') {
    // What Go reports when the other group's family comes first.
    const sample = { labels: family.series[0]!, values: VALUE_OF_TYPE[family.type], key: family.keys[0]! };
    return `collected metric ${goQuote(name)} ${formatMetric(sample)} is not a ${condition.type!}`;
  }
  return `metric family ${goQuote(name)} of type ${family.type} has no metrics, and metrics of type ${condition.type!} of that name elsewhere are not a ${family.type}`;
}

/** Whether `state` holds a share of the condition's counter (one group holds at most one). */
function holdsShare(state: GroupState | undefined, condition: Condition): boolean {
  const family = state?.get(condition.name);
  if (family === undefined) return false;
  if (condition.kind === 'n') return true;
  return family.type === condition.type && (condition.kind === 't' || family.keys.length > 0);
}

/** The counters a family adds one to. */
function countersOf(family: RecordFamily): string[] {
  const fields = [typeField(family.name, family.type), holdersField(family.name)];
  if (family.keys.length > 0) fields.push(filledField(family.name, family.type));
  return fields;
}

/** A family needs its conditions checked unless the group held it before with the same type, filled or not alike. */
function isChanged(family: RecordFamily, old: RecordFamily | undefined): boolean {
  return old === undefined || old.type !== family.type || old.keys.length > 0 !== family.keys.length > 0;
}

/**
 * The group's new state against other groups and itself, as errors: each changed family's
 * conditions (counters minus the group's own old share) and suffix collisions inside the group,
 * then every new series against the group holding it.
 */
function findConflicts(group: string, from: GroupState | undefined, to: GroupState, read: (field: string) => FieldValue): string[] {
  const errors: string[] = [];
  for (const family of to.values()) {
    const old = from?.get(family.name);
    if (isChanged(family, old)) {
      for (const condition of conditionsOf(family.name, family.type, family.keys.length > 0)) {
        const others = Number(read(condition.field) ?? '0') - (holdsShare(from, condition) ? 1 : 0);
        // Inside the group itself only suffixes can collide: one family per name.
        if (others > 0 || (condition.suffix !== undefined && holdsShare(to, condition))) errors.push(conditionError(condition, family));
      }
    }
    if (old !== undefined && sameKeys(old.keys, family.keys)) continue;
    const held = old === undefined ? undefined : new Set(old.keys);
    family.keys.forEach((key, i) => {
      if (held?.has(key) === true) return;
      const holder = read(seriesField(family.name, key));
      if (holder !== undefined && holder !== group) {
        const metric = { labels: family.series[i]!, values: VALUE_OF_TYPE[family.type], key };
        errors.push(
          `collected metric ${goQuote(family.name)} ${formatMetric(metric)} was collected before with the same name and label values (group ${holder})`,
        );
      }
    });
  }
  return errors;
}

/**
 * The change from one state of a group to another. Its expectations follow from the two states
 * alone: the group's record as it was (writes to one group serialize), each changed family's
 * conditions at the group's own old share (no other holder), each new series absent.
 */
function planChange(group: string, fromRecord: FieldValue, from: GroupState | undefined, toRecord: FieldValue, to: GroupState | undefined): IndexChange {
  const field = groupField(group);
  if (fromRecord === toRecord) return { expect: [[field, fromRecord]], set: [], add: [] };
  // What a change sets is what a store keeps: flat (judge-record.ts flatten). Every series field
  // of the group holds this one string.
  const holder = flatten(group);
  const expect: Array<[string, FieldValue]> = [[field, fromRecord]];
  const set: Array<[string, FieldValue]> = [[flatten(field), toRecord === undefined ? undefined : flatten(toRecord)]];
  const add: Array<[string, number]> = [];
  // Only suffix conditions name other families, so only they can repeat across families.
  let suffixFields: Set<string> | undefined;
  let growth = 0;
  for (const family of to?.values() ?? []) {
    const old = from?.get(family.name);
    if (isChanged(family, old)) {
      for (const condition of conditionsOf(family.name, family.type, family.keys.length > 0)) {
        if (condition.suffix !== undefined) {
          if (suffixFields?.has(condition.field) === true) continue;
          (suffixFields ??= new Set()).add(condition.field);
        }
        expect.push([condition.field, holdsShare(from, condition) ? '1' : undefined]);
      }
      moveCounters(add, old, family);
    }
    if (old !== undefined && sameKeys(old.keys, family.keys)) continue;
    const held = new Set(old?.keys);
    const kept = new Set<string>();
    for (const key of family.keys) {
      if (held.has(key)) {
        kept.add(key);
        continue;
      }
      const series = flatten(seriesField(family.name, key));
      expect.push([series, undefined]);
      set.push([series, holder]);
      growth++;
    }
    for (const key of old?.keys ?? []) {
      if (kept.has(key)) continue;
      set.push([seriesField(family.name, key), undefined]);
      growth--;
    }
  }
  for (const old of from?.values() ?? []) {
    if (to?.has(old.name) === true) continue;
    moveCounters(add, old, undefined);
    for (const key of old.keys) set.push([seriesField(old.name, key), undefined]);
    growth -= old.keys.length;
  }
  if (growth !== 0) add.push([SERIES_COUNT_FIELD, growth]);
  return { expect, set, add };
}

/** The counter moves of one name going from `old` to `next` (different families never share a counter). */
function moveCounters(add: Array<[string, number]>, old: RecordFamily | undefined, next: RecordFamily | undefined): void {
  const before = old === undefined ? [] : countersOf(old);
  const after = next === undefined ? [] : countersOf(next);
  for (const counter of before) if (!after.includes(counter)) add.push([counter, -1]);
  for (const counter of after) if (!before.includes(counter)) add.push([flatten(counter), 1]);
}

/**
 * A refusal: the check's errors as the Pushgateway's message, and what setPushFailedTimestamp
 * would store — the group's push_failure_time_seconds replaced by a fresh one, push_time_seconds
 * added if absent, a new group created — unless that store would itself be inconsistent (or the
 * group's labels are not UTF-8: its gauges would carry them), or pass the index's bound.
 */
function refuse(
  write: GroupWrite,
  record: FieldValue,
  old: GroupState | undefined,
  read: (field: string) => FieldValue,
  limits: JudgeLimits,
  errors: readonly string[],
): Verdict {
  const next = new Map(old ?? []);
  next.set(PUSH_FAILURE_TIME, timestampFamily(PUSH_FAILURE_TIME, write.labels));
  if (!next.has(PUSH_TIME)) next.set(PUSH_TIME, timestampFamily(PUSH_TIME, write.labels));
  const state = sortState(next);
  const growth = seriesCount(state) - seriesCount(old);
  const poisoned =
    !isUtf8(write.labels) ||
    (growth > 0 && Number(read(SERIES_COUNT_FIELD) ?? '0') + growth > limits.maxSeries) ||
    findConflicts(write.group, old, state, read).length > 0;
  return {
    ok: false,
    kind: 'inconsistent',
    // http.Error ends the body with a newline.
    message: REFUSAL_PREFIX + formatErrors(errors) + '\n',
    failure: poisoned ? undefined : planChange(write.group, record, old, encodeRecord(write.labels, [...state.values()]), state),
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
  let done: Set<string> | undefined;
  for (const pair of body) {
    const name = pair[0];
    const grouping = done?.has(name) === true ? undefined : group.find(([n]) => n === name);
    if (grouping !== undefined) {
      // Only the first label of a grouping name is overwritten; a second one is a duplicate anyway.
      out.push(grouping);
      (done ??= new Set()).add(name);
    } else out.push(pair);
    if (name === 'instance') hasInstance = true;
  }
  for (const pair of group) {
    if (done?.has(pair[0]) === true) continue;
    out.push(pair);
    if (pair[0] === 'instance') hasInstance = true;
  }
  if (!hasInstance) out.push(['instance', '']);
  return out.sort(compareByName);
}

/** The parsers keep bytes that are not UTF-8 as lone surrogates. */
function isUtf8(labels: GroupLabels): boolean {
  for (const [, value] of labels) if (!value.isWellFormed()) return false;
  return true;
}

function sortLabels(labels: ReadonlyArray<readonly [string, string]>): Array<readonly [string, string]> {
  return [...labels].sort(compareByName);
}

function checkedMetric(labels: ReadonlyArray<readonly [string, string]>, values: number): CheckedMetric {
  return { labels, values, key: labelsKeyOf(labels) };
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

function seriesCount(state: GroupState | undefined): number {
  let n = 0;
  for (const family of state?.values() ?? []) n += family.keys.length;
  return n;
}

/** The same families, types and series: the same record. */
function sameState(a: GroupState | undefined, b: GroupState): boolean {
  if (a === undefined || a.size !== b.size) return false;
  for (const family of b.values()) {
    const other = a.get(family.name);
    if (other === undefined || other.type !== family.type || !sameKeys(other.keys, family.keys)) return false;
  }
  return true;
}

function sameKeys(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** applyChange without its expectations: the table is built by one writer here. */
function applyToTable(table: Map<string, string>, change: IndexChange): void {
  applyChange(table, { ...change, expect: [] });
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

function compareByName(a: readonly [string, string], b: readonly [string, string]): number {
  return compare(a[0], b[0]);
}

// Module constants the rules above use at call time (after every declaration here has run).
const TIMESTAMP_CONDITION_FIELDS = [PUSH_TIME, PUSH_FAILURE_TIME].flatMap((name) => conditionsOf(name, 'GAUGE', true).map((c) => c.field));
