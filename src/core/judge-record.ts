/**
 * The judge's index layout (docs/judging.md): the names of its fields and the encoding of a group's
 * record. One index for the whole ring, so no field mentions a shard.
 *
 *   g:<group>          the group's record: its families, each with its type and series
 *   s:<name>{<labels>} a series (its labels once the group's are applied) -> the group holding it
 *   t<c>:<name>        how many groups hold a family <name> of type <c> (c: c g s u h)
 *   f<c>:<name>        how many of those hold metrics in it (a family without metrics comes from protobuf)
 *   n:<name>           how many groups hold a family <name> of any type
 *   #series            how many series the index holds
 *
 * Counters only move by IndexChange.add, which commutes: pushes that merely share a name never
 * conflict. What must be "held by no other group" is expected equal to the group's own old share.
 */
import type { GroupLabels } from './grouping-key.js';
import type { MetricType } from './push-body.js';

export const GROUP_FIELD_PREFIX = 'g:';
export const SERIES_FIELD_PREFIX = 's:';
export const SERIES_COUNT_FIELD = '#series';

export { VALUE_OF_TYPE } from './push-body.js';

/** The types whose family wants a value field (GAUGE_HISTOGRAM is refused, never recorded). */
export const CHECKED_TYPES: readonly MetricType[] = ['COUNTER', 'GAUGE', 'SUMMARY', 'UNTYPED', 'HISTOGRAM'];

const TYPE_CODE: Readonly<Record<MetricType, string>> = { COUNTER: 'c', GAUGE: 'g', SUMMARY: 's', UNTYPED: 'u', HISTOGRAM: 'h', GAUGE_HISTOGRAM: 'x' };
const TYPE_OF_CODE: Readonly<Record<string, MetricType>> = { c: 'COUNTER', g: 'GAUGE', s: 'SUMMARY', u: 'UNTYPED', h: 'HISTOGRAM', x: 'GAUGE_HISTOGRAM' };

/**
 * A string V8 holds flat. A concatenation (and JSON.stringify's output) is a tree of its pieces
 * until something reads it whole; Number() does, flattening it in place. Whatever a change sets
 * goes through here, so that an index on a Map keeps one flat copy of each field and value:
 * measured, half the memory of an index of unflattened strings.
 */
export function flatten(s: string): string {
  // The comparison keeps an optimizing compiler from dropping a conversion whose result is unused.
  return Number(s) === FLATTEN_SENTINEL ? s.slice(0) : s;
}
const FLATTEN_SENTINEL = -0.5;

export function groupField(group: string): string {
  return GROUP_FIELD_PREFIX + group;
}

export function typeField(name: string, type: MetricType): string {
  return 't' + TYPE_CODE[type] + ':' + name;
}

/** Holders of a family `name` of `type` that has metrics. */
export function filledField(name: string, type: MetricType): string {
  return 'f' + TYPE_CODE[type] + ':' + name;
}

export function holdersField(name: string): string {
  return 'n:' + name;
}

/** `name` is a valid metric name (refused otherwise), so it holds no `{`: the field is unambiguous. */
export function seriesField(name: string, labelsKey: string): string {
  return SERIES_FIELD_PREFIX + name + '{' + labelsKey + '}';
}

/** `a="x",b="y"`: sorted label pairs, values escaped as in the text format. */
export function labelsKeyOf(pairs: ReadonlyArray<readonly [string, string]>): string {
  let key = '';
  for (let i = 0; i < pairs.length; i++) {
    const [name, value] = pairs[i]!;
    if (i > 0) key += ',';
    key += name + '="' + escapeLabelValue(value) + '"';
  }
  return key;
}

function escapeLabelValue(value: string): string {
  if (value.indexOf('\\') === -1 && value.indexOf('"') === -1 && value.indexOf('\n') === -1) return value;
  return value.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n');
}

/** One family of a group as the index records it. */
export interface RecordFamily {
  readonly name: string;
  readonly type: MetricType;
  /** Each series' full label pairs (the group's applied), sorted by name; series sorted by key. */
  readonly series: ReadonlyArray<ReadonlyArray<readonly [string, string]>>;
  /** labelsKeyOf of each series, same order. */
  readonly keys: readonly string[];
}

/**
 * The record of a group, as one string: families sorted by name, each series' labels without the
 * group's own (and without the `instance=""` the Pushgateway adds when the group has no instance),
 * which decoding puts back. JSON: V8 parses it natively, faster than any hand-written scanner.
 */
export function encodeRecord(labels: GroupLabels, families: readonly RecordFamily[]): string {
  const groupValues = new Map(labels);
  const implicitInstance = !groupValues.has('instance');
  const out: unknown[] = [];
  for (const family of families) {
    const series: string[][] = [];
    for (const pairs of family.series) {
      const own: string[] = [];
      for (const [name, value] of pairs) {
        if (groupValues.get(name) === value || (implicitInstance && name === 'instance' && value === '')) continue;
        own.push(name, value);
      }
      series.push(own);
    }
    out.push([family.name, TYPE_CODE[family.type], series]);
  }
  return JSON.stringify(out);
}

export function decodeRecord(labels: GroupLabels, record: string): RecordFamily[] {
  const raw = JSON.parse(record) as Array<[string, string, string[][]]>;
  const families: RecordFamily[] = [];
  for (const [name, code, rawSeries] of raw) {
    const series: Array<Array<[string, string]>> = [];
    const keys: string[] = [];
    for (const flat of rawSeries) {
      const pairs = mergeGroupLabels(flat, labels);
      series.push(pairs);
      keys.push(labelsKeyOf(pairs));
    }
    families.push({ name, type: TYPE_OF_CODE[code]!, series, keys });
  }
  return families;
}

/** The labels of a group back from its canonical key (grouping-key.ts makeGroupingKey). */
export function labelsOfGroup(group: string): Array<[string, string]> {
  const labels: Array<[string, string]> = [];
  let i = 1;
  while (i < group.length - 1) {
    const eq = group.indexOf('="', i);
    if (eq === -1) break;
    const name = group.slice(i, eq);
    let value = '';
    let j = eq + 2;
    for (; j < group.length && group[j] !== '"'; j++) {
      if (group[j] === '\\') {
        const next = group[++j];
        value += next === 'n' ? '\n' : (next ?? '');
      } else value += group[j];
    }
    labels.push([name, value]);
    i = j + 2;
  }
  return labels;
}

/** A series' own labels (flat name, value list, sorted) with the group's put back, sorted. */
function mergeGroupLabels(flat: readonly string[], labels: GroupLabels): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  let hasInstance = false;
  let g = 0;
  for (let i = 0; i < flat.length; i += 2) {
    const name = flat[i]!;
    while (g < labels.length && labels[g]![0] < name) out.push([labels[g]![0], labels[g++]![1]]);
    if (g < labels.length && labels[g]![0] === name) g++;
    if (name === 'instance') hasInstance = true;
    out.push([name, flat[i + 1]!]);
  }
  while (g < labels.length) out.push([labels[g]![0], labels[g++]![1]]);
  if (!hasInstance && !labels.some(([name]) => name === 'instance')) {
    let at = 0;
    while (at < out.length && out[at]![0] < 'instance') at++;
    out.splice(at, 0, ['instance', '']);
  }
  return out;
}
