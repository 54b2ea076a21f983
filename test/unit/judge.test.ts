import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { makeGroupingKey, type GroupLabels } from '../../src/core/grouping-key.js';
import { applyChange, isEmptyChange, type FieldValue } from '../../src/core/index-table.js';
import {
  fieldsOf,
  fieldsOfStored,
  findInconsistentGroups,
  forgetGroup,
  GROUP_FIELD_PREFIX,
  judgeWrite,
  REFUSAL_PREFIX,
  restoreGroup,
  storedGroupOf,
  type GroupWrite,
  type StoredGroup,
  type Verdict,
  type WriteMethod,
} from '../../src/core/judge.js';
import { decodeRecord, encodeRecord, labelsKeyOf, labelsOfGroup, VALUE_OF_TYPE } from '../../src/core/judge-record.js';
import { VALUE_COUNTER, VALUE_GAUGE, VALUE_SUMMARY, type MetricType, type PushedFamily, type PushedMetric } from '../../src/core/push-body.js';
import { PUSHGATEWAY_OWN_FAMILIES } from '../../src/core/pushgateway-own.js';
import { buildIndex } from '../../scripts/judge-measure.js';

// ---------------------------------------------------------------------------------------------
// Building inputs as the parsers would hand them over.

type Labels = Record<string, string>;

function metric(labels: Labels = {}, values = VALUE_GAUGE, hasTimestamp = false): PushedMetric {
  return { labels: Object.entries(labels), values, hasTimestamp };
}

/** A family as the text parser gives it: every metric carries exactly its type's value field. */
function family(name: string, type: MetricType, ...labelSets: Labels[]): PushedFamily {
  return { name, help: '', type, metrics: labelSets.map((labels) => metric(labels, VALUE_OF_TYPE[type])) };
}

/** A family as protobuf may give it: any value fields per metric. */
function pb(name: string, type: MetricType, metrics: PushedMetric[], help = ''): PushedFamily {
  return { name, help, type, metrics };
}

function writeOf(method: WriteMethod, group: Labels, families: PushedFamily[] = []): GroupWrite {
  const key = makeGroupingKey(new Map(Object.entries(group)));
  return { group: key.canonical, labels: key.labels, method, families };
}

const NO_LIMIT = { maxSeries: 1_000_000 };

/** One index on a Map, judged the way a front door does: read fieldsOf, judge, commit. */
class Index {
  readonly table = new Map<string, string>();

  judge(write: GroupWrite, limits = NO_LIMIT): Verdict {
    const allowed = new Set(fieldsOf(write));
    return judgeWrite(write, (field) => this.readOnly(allowed, field), limits);
  }

  /** Judges and commits what a Pushgateway would store: the change, or a refusal's failure record. */
  push(method: WriteMethod, group: Labels, families: PushedFamily[] = [], limits = NO_LIMIT): Verdict {
    const verdict = this.judge(writeOf(method, group, families), limits);
    const change = verdict.ok ? verdict.change : verdict.kind === 'inconsistent' ? verdict.failure : undefined;
    if (change !== undefined) expect(applyChange(this.table, change)).toBe(true);
    // The write reached the backends: what it took away is let go of.
    if (verdict.ok) expect(applyChange(this.table, verdict.settle)).toBe(true);
    return verdict;
  }

  readOnly(allowed: ReadonlySet<string>, field: string): FieldValue {
    if (!allowed.has(field)) throw new Error(`the judge read ${field}, which fieldsOf did not name`);
    return this.table.get(field);
  }
}

function message(verdict: Verdict): string {
  if (verdict.ok || verdict.kind !== 'inconsistent') throw new Error(`expected a refusal, got ${JSON.stringify(verdict)}`);
  return verdict.message;
}

// ---------------------------------------------------------------------------------------------
// The rules, one row each: what the index holds (earlier pushes, committed as a Pushgateway would
// store them), the push under test, and what a checked Pushgateway 1.5.1 answers.

interface Push {
  readonly method: WriteMethod;
  readonly group: Labels;
  readonly families: PushedFamily[];
}
const put = (group: Labels, ...families: PushedFamily[]): Push => ({ method: 'PUT', group, families });
const post = (group: Labels, ...families: PushedFamily[]): Push => ({ method: 'POST', group, families });
const del = (group: Labels): Push => ({ method: 'DELETE', group, families: [] });

interface Row {
  readonly rule: string;
  /** The Go function (PG 1.5.1 storage/handler, client_golang v1.14.0 prometheus/registry.go) or the binary. */
  readonly source: string;
  readonly before: Push[];
  readonly push: Push;
  /** 'ok', or a piece of the refusal's message; `poison`: refused and nothing may be stored. */
  readonly expect: 'ok' | { readonly refused: string; readonly poison?: boolean };
}

const A = { job: 'a' };
const B = { job: 'b' };
const G = 'GAUGE';
const C = 'COUNTER';

const ROWS: Row[] = [
  { rule: 'a new group is stored', source: 'processWriteRequest', before: [], push: put(A, family('foo', G, {})), expect: 'ok' },
  {
    rule: 'one name of one type in many groups',
    source: 'GetMetricFamilies (merges same-named families)',
    before: [put(A, family('foo', G, {}))],
    push: put(B, family('foo', G, {})),
    expect: 'ok',
  },
  {
    rule: 'help differing between groups is no error',
    source: 'GetMetricFamilies (logs "inconsistent help strings")',
    before: [put(A, { ...family('foo', G, {}), help: 'one' })],
    push: put(B, { ...family('foo', G, {}), help: 'two' }),
    expect: 'ok',
  },
  {
    rule: 'one name of two types in two groups',
    source: 'checkMetricConsistency (value field vs the merged family type)',
    before: [put(A, family('foo', G, {}))],
    push: put(B, family('foo', C, {})),
    expect: { refused: 'collected metric "foo" { label:<name:"instance" value:"" > label:<name:"job" value:"b" > counter:<> } is not a GAUGE' },
  },
  {
    rule: 'a type change inside one group (PUT replaces the family)',
    source: 'processWriteRequest (Replace)',
    before: [put(A, family('foo', G, {}))],
    push: put(A, family('foo', C, {})),
    expect: 'ok',
  },
  {
    rule: 'a POST replaces a family by name',
    source: 'processWriteRequest (group.Metrics[name] = mf)',
    before: [put(A, family('foo', G, {}))],
    push: post(A, family('foo', C, {})),
    expect: 'ok',
  },
  {
    rule: 'a POST keeps the families it does not name',
    source: 'processWriteRequest (no Replace)',
    before: [put(A, family('foo', G, {})), post(A, family('bar', G, {})), put(B, family('bar', G, {}))],
    push: put(B, family('foo', C, {})),
    expect: { refused: 'is not a GAUGE' },
  },
  {
    rule: 'a PUT drops the families it does not name',
    source: 'processWriteRequest (Replace deletes all but the push timestamps)',
    before: [put(A, family('foo', G, {})), put(A, family('bar', G, {}))],
    push: put(B, family('foo', C, {})),
    expect: 'ok',
  },
  {
    rule: 'a DELETE frees what the group held',
    source: 'processWriteRequest (MetricFamilies == nil)',
    before: [put(A, family('foo', G, {})), del(A)],
    push: put(B, family('foo', C, {})),
    expect: 'ok',
  },
  {
    rule: 'a DELETE of an absent group',
    source: 'checkWriteRequest (delete always passes)',
    before: [],
    push: del(A),
    expect: 'ok',
  },
  {
    rule: 'timestamps',
    source: 'checkWriteRequest (timestampsPresent -> errTimestamp)',
    before: [],
    push: put(A, pb('foo', G, [metric({}, VALUE_GAUGE, true)])),
    expect: { refused: REFUSAL_PREFIX + 'pushed metrics must not have timestamps' },
  },
  {
    rule: 'a series twice in one push',
    source: 'checkMetricConsistency (metricHashes)',
    before: [],
    push: put(A, family('foo', G, { x: '1' }, { x: '1' })),
    expect: { refused: 'was collected before with the same name and label values' },
  },
  {
    rule: 'body labels named like grouping labels are overwritten, making duplicates',
    source: 'sanitizeLabels',
    before: [],
    push: put(A, family('foo', G, { job: 'b' }, { job: 'c' })),
    expect: { refused: 'label:<name:"job" value:"a" > gauge:<> } was collected before' },
  },
  {
    rule: 'a series of two groups once the group labels are applied',
    source: 'sanitizeLabels + checkMetricConsistency',
    before: [put({ job: 'j', instance: 'i' }, family('foo', G, {}))],
    push: put({ job: 'j' }, family('foo', G, { instance: 'i' })),
    expect: { refused: 'was collected before with the same name and label values' },
  },
  {
    rule: 'an empty label is a label to the check',
    source: 'checkMetricConsistency hashes every pair; the binary accepts both',
    before: [put({ job: 'j', instance: 'i' }, family('foo', G, { a: '' }))],
    push: put({ job: 'j' }, family('foo', G, { instance: 'i' })),
    expect: 'ok',
  },
  {
    rule: 'poison (a): instance="" makes a group collide with the group without instance',
    source: 'sanitizeLabels + setPushFailedTimestamp (binary: 400, then every scrape 500)',
    before: [put({ job: 'x' }, family('a', 'UNTYPED', {}))],
    push: put({ job: 'x', instance: '' }, family('b', 'UNTYPED', {})),
    expect: { refused: '2 error(s) occurred:\n* collected metric "push_failure_time_seconds"', poison: true },
  },
  {
    rule: 'poison (c): a grouping label value that is not UTF-8 (percent-escaped or base64 in the path)',
    source: 'sanitizeLabels + checkMetricConsistency (utf8) + setPushFailedTimestamp (binary: 400, then every scrape 500)',
    before: [],
    push: put({ job: 'x', a: '\udcff' }, family('x', 'UNTYPED', {})),
    expect: { refused: '3 error(s) occurred:\n* collected metric "x"', poison: true },
  },
  {
    rule: 'a pushed push_failure_time_seconds survives in an existing group',
    source: 'processWriteRequest (pushFailedMetricName kept if present)',
    before: [put({ job: 'x' }, family('a', 'UNTYPED', {}))],
    push: put({ job: 'x' }, family('push_failure_time_seconds', C, {})),
    expect: 'ok',
  },
  {
    rule: 'poison (b): then a new group conflicts with it, and so would its failure record',
    source: 'setPushFailedTimestamp (binary: 400, then every scrape 500)',
    before: [put({ job: 'x' }, family('a', 'UNTYPED', {})), put({ job: 'x' }, family('push_failure_time_seconds', C, {}))],
    push: put({ job: 'y' }, family('c', 'UNTYPED', {})),
    expect: { refused: '"push_failure_time_seconds"', poison: true },
  },
  {
    rule: 'poison (b2): a pushed failure gauge holding another group series',
    source: 'processWriteRequest + setPushFailedTimestamp (binary: 400, then every scrape 500)',
    before: [put({ job: 'x' }, family('a', 'UNTYPED', {})), post({ job: 'x' }, family('push_failure_time_seconds', 'UNTYPED', { foo: 'bar' }))],
    push: put({ job: 'x', foo: 'bar' }, family('c', 'UNTYPED', {})),
    expect: { refused: '"push_failure_time_seconds"', poison: true },
  },
  {
    rule: 'a pushed push_failure_time_seconds in a new group is replaced',
    source: 'processWriteRequest (pushFailedMetricName set when the group has none)',
    before: [put({ job: 'x' }, family('a', 'UNTYPED', {})), put({ job: 'x' }, family('push_failure_time_seconds', C, {}))],
    push: put({ job: 'x', z: '1' }, family('push_failure_time_seconds', C, {})),
    expect: { refused: 'is not a COUNTER', poison: true },
  },
  {
    rule: 'a pushed push_time_seconds is always replaced',
    source: 'processWriteRequest (pushMetricName always set)',
    before: [put(A, family('foo', G, {}))],
    push: put(B, family('push_time_seconds', C, {})),
    expect: 'ok',
  },
  {
    rule: 'an empty push_failure_time_seconds (binary: accepted, then /api/v1/metrics panics)',
    source: 'MetricGroup.LastPushSuccess (GetMetric()[0])',
    before: [put(A, family('foo', G, {}))],
    push: post(A, pb('push_failure_time_seconds', G, [])),
    expect: { refused: 'push_failure_time_seconds without metrics' },
  },
  {
    rule: 'a label name that is not valid',
    source: 'checkMetricConsistency (checkLabelName)',
    before: [],
    push: put(A, pb('foo', G, [metric({ 'a-b': '1' })])),
    expect: { refused: 'has a label with an invalid name: a-b' },
  },
  {
    rule: 'a reserved label name',
    source: 'checkLabelName (reservedLabelPrefix)',
    before: [],
    push: put(A, pb('foo', G, [metric({ __x: '1' })])),
    expect: { refused: 'has a label with an invalid name: __x' },
  },
  {
    rule: 'two labels of one name',
    source: 'checkMetricConsistency (previousLabelName)',
    before: [],
    push: put(
      A,
      pb('foo', G, [
        {
          labels: [
            ['x', '1'],
            ['x', '2'],
          ],
          values: VALUE_GAUGE,
          hasTimestamp: false,
        },
      ]),
    ),
    expect: { refused: 'has two or more labels with the same name: x' },
  },
  {
    rule: 'an explicit quantile on a summary',
    source: 'checkMetricConsistency (quantileLabel)',
    before: [],
    push: put(A, pb('foo', 'SUMMARY', [metric({ quantile: '1' }, VALUE_SUMMARY)])),
    expect: { refused: 'must not have an explicit "quantile" label' },
  },
  {
    rule: 'an explicit quantile on a gauge that also carries a summary',
    source: 'checkMetricConsistency (dtoMetric.Summary != nil)',
    before: [],
    push: put(A, pb('foo', G, [metric({ quantile: '1' }, VALUE_GAUGE | VALUE_SUMMARY)])),
    expect: { refused: 'must not have an explicit "quantile" label' },
  },
  {
    rule: 'an explicit le on a histogram is refused',
    source: 'not checked by checkMetricConsistency (binary: accepted), but its exposition repeats le and Prometheus fails the scrape',
    before: [],
    push: put(A, pb('foo', 'HISTOGRAM', [metric({ le: '1' }, 16)])),
    expect: { refused: 'must not have an explicit "le" label' },
  },
  {
    rule: 'a label value that is not UTF-8',
    source: 'checkMetricConsistency (utf8.ValidString)',
    before: [],
    push: put(A, pb('foo', G, [metric({ x: 'a\udc80' })])),
    expect: { refused: 'has a label named "x" whose value is not utf8' },
  },
  {
    rule: 'a metric without the value field of its type',
    source: 'checkMetricConsistency (type consistency with metric family)',
    before: [],
    push: put(A, pb('foo', G, [metric({}, VALUE_COUNTER)])),
    expect: { refused: 'collected metric "foo" { label:<name:"instance" value:"" > label:<name:"job" value:"a" > counter:<> } is not a GAUGE' },
  },
  {
    rule: 'a metric with another value field besides its own is taken to carry its own only',
    source: 'checkMetricConsistency accepts it; /api/v1/metrics (makeEncodableMetrics) cannot show it',
    before: [put(A, pb('foo', G, [metric({}, VALUE_GAUGE | VALUE_COUNTER)]))],
    push: put(B, pb('foo', C, [metric({}, VALUE_GAUGE | VALUE_COUNTER)])),
    expect: { refused: 'is not a GAUGE' },
  },
  {
    rule: 'a metric with another value field besides its own, alone',
    source: 'checkMetricConsistency (only the family type field is required)',
    before: [],
    push: put(B, pb('foo', C, [metric({}, VALUE_GAUGE | VALUE_COUNTER)])),
    expect: 'ok',
  },
  {
    rule: 'an empty family of another type beside metrics (binary: order-dependent)',
    source: 'GetMetricFamilies (first group type wins) + checkMetricConsistency',
    before: [put(A, pb('foo', G, []))],
    push: put(B, family('foo', 'UNTYPED', {})),
    expect: { refused: 'not a' },
  },
  {
    rule: 'empty families of two types',
    source: 'Gatherers.Gather (no metric to check)',
    before: [put(A, pb('foo', G, []))],
    push: put(B, pb('foo', C, [])),
    expect: 'ok',
  },
  {
    rule: 'a summary beside a _count of another group',
    source: 'checkSuffixCollisions',
    before: [put(A, family('foo_count', G, {}))],
    push: put(B, family('foo', 'SUMMARY', {})),
    expect: { refused: 'collected histogram or summary named "foo" collides with previously collected metric named "foo_count"' },
  },
  {
    rule: 'a _sum beside a histogram of another group',
    source: 'checkSuffixCollisions',
    before: [put(A, family('foo', 'HISTOGRAM', {}))],
    push: put(B, family('foo_sum', G, {})),
    expect: { refused: 'collected metric named "foo_sum" collides with previously collected histogram named "foo"' },
  },
  {
    rule: 'a _bucket beside a histogram',
    source: 'checkSuffixCollisions',
    before: [put(A, family('foo', 'HISTOGRAM', {}))],
    push: put(B, pb('foo_bucket', G, [])),
    expect: { refused: 'collides with previously collected histogram named "foo"' },
  },
  {
    rule: 'a _bucket beside a summary is no error',
    source: 'checkSuffixCollisions (summary: not for _bucket)',
    before: [put(A, family('foo', 'SUMMARY', {}))],
    push: put(B, family('foo_bucket', G, {})),
    expect: 'ok',
  },
  {
    rule: 'a suffix collision inside one push',
    source: 'checkSuffixCollisions',
    before: [],
    push: put(A, family('foo', 'SUMMARY', {}), family('foo_count', G, {})),
    expect: { refused: 'collides' },
  },
  {
    rule: 'a suffix collision with a family a POST kept',
    source: 'checkSuffixCollisions over the merged group',
    before: [put(A, family('foo_count', G, {}))],
    push: post(A, family('foo', 'SUMMARY', {})),
    expect: { refused: 'collides' },
  },
  {
    rule: 'a Pushgateway family of another type',
    source: 'Gatherers.Gather ("has type %s but should have %s")',
    before: [],
    push: put(A, family('go_goroutines', C, {})),
    expect: { refused: 'gathered metric family go_goroutines has type COUNTER but should have GAUGE' },
  },
  {
    rule: 'a Pushgateway family present at start with other help',
    source: 'GetMetricFamilies (predefinedHelp replaces it)',
    before: [],
    push: put(A, { ...family('go_goroutines', G, {}), help: 'mine' }),
    expect: 'ok',
  },
  {
    rule: 'a Pushgateway family created later, other help',
    source: 'Gatherers.Gather ("has help %q but should have %q")',
    before: [],
    push: put(A, { ...family('pushgateway_http_requests_total', C, {}), help: 'mine' }),
    expect: { refused: 'gathered metric family pushgateway_http_requests_total has help "mine" but should have' },
  },
  {
    rule: 'a Pushgateway family created later, its own help',
    source: 'Gatherers.Gather',
    before: [],
    push: put(A, { ...family('pushgateway_http_requests_total', C, {}), help: PUSHGATEWAY_OWN_FAMILIES.get('pushgateway_http_requests_total')!.help }),
    expect: 'ok',
  },
  {
    rule: 'a suffix of a Pushgateway summary',
    source: 'checkSuffixCollisions (DefaultGatherer gathered first)',
    before: [],
    push: put(A, family('go_gc_duration_seconds_count', G, {})),
    expect: { refused: 'collides with previously collected summary named "go_gc_duration_seconds"' },
  },
  {
    rule: 'a GAUGE_HISTOGRAM (binary: accepted, then /metrics ends at "# TYPE <name>")',
    source: 'expfmt MetricFamilyToText (unknown metric type)',
    before: [],
    push: put(A, pb('foo', 'GAUGE_HISTOGRAM', [metric({}, 16)])),
    expect: { refused: 'GAUGE_HISTOGRAM' },
  },
  {
    rule: 'an invalid metric name (binary: accepted from protobuf, then Prometheus cannot parse /metrics)',
    source: 'Gatherers.Gather does not check names',
    before: [],
    push: put(A, pb('foo-bar', G, [metric()])),
    expect: { refused: 'invalid metric name' },
  },
];

describe('judgeWrite: the rules of a checked Pushgateway 1.5.1', () => {
  for (const row of ROWS) {
    it(`${row.rule} (${row.source})`, () => {
      const index = new Index();
      for (const p of row.before) {
        const verdict = index.push(p.method, p.group, p.families);
        expect(verdict.ok, `set-up push ${JSON.stringify(p)}: ${JSON.stringify(verdict)}`).toBe(true);
      }
      const before = new Map(index.table);
      const verdict = index.judge(writeOf(row.push.method, row.push.group, row.push.families));
      if (row.expect === 'ok') {
        expect(verdict).toMatchObject({ ok: true });
        return;
      }
      const text = message(verdict);
      expect(text.startsWith(REFUSAL_PREFIX)).toBe(true);
      expect(text).toContain(row.expect.refused);
      if (verdict.ok || verdict.kind !== 'inconsistent') return;
      if (row.expect.poison === true) expect(verdict.failure).toBeUndefined();
      else {
        expect(verdict.failure).toBeDefined();
        expect(applyChange(index.table, verdict.failure!)).toBe(true);
        expect(index.table.has(GROUP_FIELD_PREFIX + writeOf('PUT', row.push.group).group)).toBe(true);
      }
      if (row.expect.poison === true) expect(index.table).toEqual(before);
    });
  }
});

describe('judgeWrite: verdicts and changes', () => {
  it('a refused push to a new group creates the group, as setPushFailedTimestamp does', () => {
    const index = new Index();
    const verdict = index.push('PUT', A, [pb('foo', G, [metric({}, VALUE_GAUGE, true)])]);
    expect(verdict).toMatchObject({ ok: false, kind: 'inconsistent' });
    const record = index.table.get(GROUP_FIELD_PREFIX + '{job="a"}');
    expect(record).toContain('push_failure_time_seconds');
    expect(record).not.toContain('foo');
  });

  it('a refusal is not recorded when its failure gauges would pass maxSeries', () => {
    const index = new Index();
    expect(index.push('PUT', A, [family('foo', G, {})], { maxSeries: 4 }).ok).toBe(true);
    const verdict = index.judge(writeOf('PUT', B, [pb('foo', G, [metric({}, VALUE_GAUGE, true)])]), { maxSeries: 4 });
    expect(verdict).toMatchObject({ ok: false, kind: 'inconsistent', failure: undefined });
  });

  it('a write that changes nothing needs no commit', () => {
    const index = new Index();
    index.push('PUT', A, [family('foo', G, { x: '1' })]);
    const verdict = index.judge(writeOf('PUT', A, [family('foo', G, { x: '1' })]));
    expect(verdict.ok && isEmptyChange(verdict.change)).toBe(true);
  });

  it('is full when a push would take the index past maxSeries', () => {
    const index = new Index();
    // Each group holds its two push timestamps and one pushed series.
    expect(index.push('PUT', A, [family('foo', G, {})], { maxSeries: 6 }).ok).toBe(true);
    expect(index.push('PUT', B, [family('foo', G, {})], { maxSeries: 6 }).ok).toBe(true);
    expect(index.push('PUT', { job: 'c' }, [family('foo', G, {})], { maxSeries: 6 })).toEqual({ ok: false, kind: 'full', maxSeries: 6 });
    expect(index.push('PUT', A, [family('foo', G, {})], { maxSeries: 6 }).ok).toBe(true);
  });

  it('many new groups adding one gauge name commit without conflict, judged against one state', () => {
    const index = new Index();
    index.push('PUT', { job: 'seed' }, [family('foo', G, {})]);
    const verdicts = Array.from({ length: 20 }, (_, i) => index.judge(writeOf('PUT', { job: `j${i}` }, [family('foo', G, {})])));
    for (const verdict of verdicts) expect(verdict.ok && applyChange(index.table, verdict.change)).toBe(true);
  });

  it('the second of two conflicting pushes judged against one state fails to commit', () => {
    const index = new Index();
    const gauge = index.judge(writeOf('PUT', A, [family('foo', G, {})]));
    const counter = index.judge(writeOf('PUT', B, [family('foo', C, {})]));
    expect(gauge.ok && counter.ok).toBe(true);
    if (!gauge.ok || !counter.ok) return;
    expect(applyChange(index.table, counter.change)).toBe(true);
    expect(applyChange(index.table, gauge.change)).toBe(false);
  });

  it('two pushes of one series to two groups: the second commit fails', () => {
    const index = new Index();
    const first = index.judge(writeOf('PUT', { job: 'j', instance: 'i' }, [family('foo', G, {})]));
    const second = index.judge(writeOf('PUT', { job: 'j' }, [family('foo', G, { instance: 'i' })]));
    expect(first.ok && second.ok).toBe(true);
    if (!first.ok || !second.ok) return;
    expect(applyChange(index.table, first.change)).toBe(true);
    expect(applyChange(index.table, second.change)).toBe(false);
  });

  it('an undo after its change restores the table exactly', () => {
    const index = new Index();
    index.push('PUT', A, [family('foo', G, { x: '1' }), family('bar', C, {})]);
    const before = new Map(index.table);
    const verdict = index.judge(writeOf('POST', A, [family('foo', G, { x: '2' }), family('baz', 'SUMMARY', {})]));
    if (!verdict.ok) throw new Error(JSON.stringify(verdict));
    expect(applyChange(index.table, verdict.change)).toBe(true);
    expect(applyChange(index.table, verdict.undo)).toBe(true);
    expect(index.table).toEqual(before);
  });

  it('holds what a write in flight lets go of until it settles: no other group takes it meanwhile', () => {
    const index = new Index();
    index.push('PUT', A, [family('foo', G, {})]);
    const verdict = index.judge(writeOf('PUT', A, [family('bar', G, {})]));
    if (!verdict.ok) throw new Error(JSON.stringify(verdict));
    expect(applyChange(index.table, verdict.change)).toBe(true);
    // A's old gauge may still reach a backend after B's counter would: B must wait.
    const early = index.judge(writeOf('PUT', B, [family('foo', C, {})]));
    expect(early.ok).toBe(false);
    // Taken back (nobody stored A's write): the table is as before A's write.
    const before = new Index();
    before.push('PUT', A, [family('foo', G, {})]);
    expect(applyChange(index.table, verdict.undo)).toBe(true);
    expect(index.table).toEqual(before.table);
  });

  it('lets go of it once the write settles', () => {
    const index = new Index();
    index.push('PUT', A, [family('foo', G, {})]);
    const verdict = index.judge(writeOf('PUT', A, [family('bar', G, {})]));
    if (!verdict.ok) throw new Error(JSON.stringify(verdict));
    expect(applyChange(index.table, verdict.change)).toBe(true);
    expect(applyChange(index.table, verdict.settle)).toBe(true);
    expect(index.push('PUT', B, [family('foo', C, {})]).ok).toBe(true);
  });

  it('reads only the fields fieldsOf names (Index.readOnly throws otherwise)', () => {
    const index = new Index();
    index.push('PUT', A, [family('foo', G, {}), family('foo_count', G, {})]);
    expect(() => index.push('POST', A, [family('foo', 'SUMMARY', {}), pb('bar', 'HISTOGRAM', [metric({}, 0)])])).not.toThrow();
  });
});

describe('judge-record: the group key and the record round-trip', () => {
  const labelName = fc.stringMatching(/^[a-zA-Z_][a-zA-Z0-9_]{0,5}$/);
  const labels = fc.uniqueArray(fc.tuple(labelName, fc.string({ unit: 'grapheme', maxLength: 8 })), { minLength: 1, maxLength: 4, selector: ([n]) => n });

  it('labelsOfGroup reads back the labels of any canonical key', () => {
    fc.assert(
      fc.property(labels, (pairs) => {
        const key = makeGroupingKey(new Map(pairs));
        expect(labelsOfGroup(key.canonical)).toEqual(key.labels);
      }),
    );
  });

  it('decodeRecord gives back what encodeRecord was given, the group labels put back', () => {
    fc.assert(
      fc.property(labels, fc.array(labels, { maxLength: 3 }), (group, extra) => {
        const key = makeGroupingKey(new Map(group));
        const series = extra.map((pairs) => {
          const merged = new Map(pairs);
          for (const [n, v] of key.labels) merged.set(n, v);
          if (!merged.has('instance')) merged.set('instance', '');
          return [...merged].sort((a, b) => (a[0] < b[0] ? -1 : 1));
        });
        const unique = [...new Map(series.map((s) => [labelsKeyOf(s), s])).values()];
        const family = { name: 'x', type: 'GAUGE' as const, series: unique, keys: unique.map(labelsKeyOf) };
        expect(decodeRecord(key.labels, encodeRecord(key.labels, [family]))).toEqual([family]);
      }),
    );
  });
});

describe('restoreGroup, forgetGroup, findInconsistentGroups, storedGroupOf', () => {
  const apiGroup = {
    labels: { job: 'a', instance: 'i' },
    last_push_successful: true,
    foo: { type: 'GAUGE' as const, help: 'h', metrics: [{ labels: { instance: 'i', job: 'a', x: '1' }, value: '1' }] },
    push_time_seconds: { type: 'GAUGE' as const, metrics: [{ labels: { instance: 'i', job: 'a' }, value: '1' }] },
    push_failure_time_seconds: { type: 'GAUGE' as const, metrics: [{ labels: { instance: 'i', job: 'a' }, value: '0' }] },
  };

  it('storedGroupOf gives the canonical key and the families as held', () => {
    const stored = storedGroupOf(apiGroup);
    expect(stored.group).toBe('{instance="i",job="a"}');
    expect(stored.labels).toEqual([
      ['instance', 'i'],
      ['job', 'a'],
    ]);
    expect(stored.families.map((f) => f.name)).toEqual(['foo', 'push_failure_time_seconds', 'push_time_seconds']);
    expect(stored.families[0]).toMatchObject({ help: 'h', type: 'GAUGE', metrics: [{ values: VALUE_GAUGE, hasTimestamp: false }] });
  });

  it('restoring what a push recorded changes nothing', () => {
    const index = new Index();
    index.push('PUT', { job: 'a', instance: 'i' }, [family('foo', G, { x: '1' })]);
    const stored = storedGroupOf(apiGroup);
    const restored = restoreGroup(stored, (f) => index.table.get(f));
    expect(restored.ok && isEmptyChange(restored.change)).toBe(true);
  });

  it('restoring repairs drift, and forgetGroup removes every trace', () => {
    const index = new Index();
    index.push('PUT', { job: 'a', instance: 'i' }, [family('bar', C, {})]);
    const stored = storedGroupOf(apiGroup);
    const allowed = new Set(fieldsOfStored(stored));
    const restored = restoreGroup(stored, (f) => index.readOnly(allowed, f));
    if (!restored.ok) throw new Error(restored.message);
    expect(applyChange(index.table, restored.change)).toBe(true);
    const fresh = new Map<string, string>();
    const again = restoreGroup(stored, (f) => fresh.get(f));
    if (!again.ok) throw new Error(again.message);
    applyChange(fresh, again.change);
    expect(index.table).toEqual(fresh);
    const record = index.table.get(GROUP_FIELD_PREFIX + stored.group)!;
    expect(applyChange(index.table, forgetGroup(stored.group, record))).toBe(true);
    expect(index.table.size).toBe(0);
  });

  it('restoreGroup refuses a group that conflicts with the index', () => {
    const index = new Index();
    index.push('PUT', B, [family('foo', C, {})]);
    const restored = restoreGroup(storedGroupOf(apiGroup), (f) => index.table.get(f));
    expect(restored).toMatchObject({ ok: false });
  });

  it('the index scripts/judge-measure.ts measures is the one a rebuild from its groups gives', () => {
    const table = buildIndex(50);
    expect(table.get('#series')).toBe('250');
    const records = [...table].filter(([field]) => field.startsWith(GROUP_FIELD_PREFIX));
    expect(records).toHaveLength(50);
    for (const [field, record] of records) applyChange(table, forgetGroup(field.slice(GROUP_FIELD_PREFIX.length), record));
    expect(table.size).toBe(0);
  });

  it('findInconsistentGroups names the groups that conflict with the ones before them', () => {
    const group = (labels: Labels, ...families: PushedFamily[]): StoredGroup => storedOf(labels, families);
    const groups = [
      group({ job: 'x' }, family('a', 'UNTYPED', {})),
      group({ job: 'x', instance: '' }, family('b', 'UNTYPED', {})),
      group({ job: 'y' }, family('a', G, {})),
      group({ job: 'z' }, family('c', G, {})),
    ];
    expect(findInconsistentGroups(groups)).toEqual([1, 2]);
  });
});

// ---------------------------------------------------------------------------------------------
// A reference model: the Pushgateway's store (processWriteRequest, setPushFailedTimestamp) and a
// whole-store check written without the index, as the check of every order of Go's maps at once.

interface ModelFamily {
  readonly type: MetricType;
  readonly help: string;
  readonly metrics: ReadonlyArray<{ readonly labels: Array<[string, string]>; readonly values: number }>;
}
interface ModelGroup {
  readonly labels: GroupLabels;
  readonly families: Map<string, ModelFamily>;
}
type Store = Map<string, ModelGroup>;

function sanitize(body: ReadonlyArray<readonly [string, string]>, group: GroupLabels): Array<[string, string]> {
  const labels = new Map(body);
  for (const [name, value] of group) labels.set(name, value);
  if (!labels.has('instance')) labels.set('instance', '');
  return [...labels].sort((a, b) => (a[0] < b[0] ? -1 : 1));
}

function timestampGauge(group: GroupLabels): ModelFamily {
  return { type: 'GAUGE', help: '', metrics: [{ labels: sanitize([], group), values: VALUE_GAUGE }] };
}

function storeWrite(store: Store, write: GroupWrite): void {
  if (write.method === 'DELETE') {
    store.delete(write.group);
    return;
  }
  let group = store.get(write.group);
  if (group === undefined) {
    group = { labels: write.labels, families: new Map() };
    store.set(write.group, group);
  } else if (write.method === 'PUT') {
    for (const name of [...group.families.keys()]) if (name !== 'push_time_seconds' && name !== 'push_failure_time_seconds') group.families.delete(name);
  }
  const pushed = new Map<string, ModelFamily>();
  for (const f of write.families) {
    pushed.set(f.name, { type: f.type, help: f.help, metrics: f.metrics.map((m) => ({ labels: sanitize(m.labels, write.labels), values: m.values })) });
  }
  pushed.set('push_time_seconds', timestampGauge(write.labels));
  if (!group.families.has('push_failure_time_seconds')) pushed.set('push_failure_time_seconds', timestampGauge(write.labels));
  for (const [name, f] of pushed) group.families.set(name, f);
}

function storeFailure(store: Store, write: GroupWrite): void {
  let group = store.get(write.group);
  if (group === undefined) {
    group = { labels: write.labels, families: new Map() };
    store.set(write.group, group);
  }
  group.families.set('push_failure_time_seconds', timestampGauge(write.labels));
  if (!group.families.has('push_time_seconds')) group.families.set('push_time_seconds', timestampGauge(write.labels));
}

function cloneStore(store: Store): Store {
  return new Map([...store].map(([k, g]) => [k, { labels: g.labels, families: new Map(g.families) }]));
}

/** True when every order of gathering the store (and the Pushgateway's own families) is free of errors. */
function isConsistentStore(store: Store): boolean {
  const byName = new Map<string, ModelFamily[]>();
  for (const group of store.values()) for (const [name, f] of group.families) byName.set(name, [...(byName.get(name) ?? []), f]);
  const series = new Set<string>();
  const checked: MetricType[] = ['COUNTER', 'GAUGE', 'SUMMARY', 'UNTYPED', 'HISTOGRAM'];
  const typesOf = (name: string): Set<MetricType> => {
    const own = PUSHGATEWAY_OWN_FAMILIES.get(name);
    return new Set([...(own === undefined ? [] : [own.type]), ...(byName.get(name) ?? []).map((f) => f.type)]);
  };
  for (const [name, families] of byName) {
    if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(name)) return false;
    const own = PUSHGATEWAY_OWN_FAMILIES.get(name);
    const types = typesOf(name);
    if (types.has('GAUGE_HISTOGRAM')) return false;
    if (own !== undefined && (types.size > 1 || families.some((f) => !own.presentAtStart && f.help !== own.help))) return false;
    // Any family first in Go's order gives the merged family its type; every metric is taken to carry its own type's field only.
    if (types.size > 1 && families.some((f) => f.metrics.length > 0)) return false;
    for (const f of families) {
      if (name === 'push_failure_time_seconds' && f.metrics.length === 0) return false;
      for (const m of f.metrics) {
        if (!checked.includes(f.type) || (m.values & VALUE_OF_TYPE[f.type]) === 0) return false;
        for (let i = 0; i < m.labels.length; i++) {
          const [ln, lv] = m.labels[i]!;
          if (i > 0 && m.labels[i - 1]![0] === ln) return false;
          if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(ln) || ln.startsWith('__')) return false;
          if ((m.values & VALUE_SUMMARY) !== 0 && ln === 'quantile') return false;
          if (!lv.isWellFormed()) return false;
        }
        const id = name + JSON.stringify(m.labels);
        if (series.has(id)) return false;
        series.add(id);
      }
    }
  }
  const names = new Set([...byName.keys(), ...PUSHGATEWAY_OWN_FAMILIES.keys()]);
  for (const name of names) {
    const types = typesOf(name);
    const has = (n: string): boolean => names.has(n);
    if ((types.has('SUMMARY') || types.has('HISTOGRAM')) && (has(name + '_count') || has(name + '_sum'))) {
      if (byName.has(name) || byName.has(name + '_count') || byName.has(name + '_sum')) return false;
    }
    if (types.has('HISTOGRAM') && has(name + '_bucket') && (byName.has(name) || byName.has(name + '_bucket'))) return false;
  }
  return true;
}

function storedOf(labels: Labels, families: PushedFamily[]): StoredGroup {
  const store: Store = new Map();
  const write = writeOf('PUT', labels, families);
  storeWrite(store, write);
  return storedFromModel(write.group, store.get(write.group)!);
}

function storedFromModel(group: string, model: ModelGroup): StoredGroup {
  return {
    group,
    labels: model.labels,
    families: [...model.families].map(([name, f]) => ({
      name,
      help: f.help,
      type: f.type,
      metrics: f.metrics.map((m) => ({ labels: m.labels, values: m.values, hasTimestamp: false })),
    })),
  };
}

/** The index built from scratch from a store, one restoreGroup per group in the given order. */
function rebuild(store: Store, order: readonly string[]): Map<string, string> {
  const table = new Map<string, string>();
  for (const group of order) {
    const stored = storedFromModel(group, store.get(group)!);
    const allowed = new Set(fieldsOfStored(stored));
    const restored = restoreGroup(stored, (f) => {
      if (!allowed.has(f)) throw new Error(`restoreGroup read ${f}, which fieldsOfStored did not name`);
      return table.get(f);
    });
    if (!restored.ok) throw new Error(`rebuilding ${group}: ${restored.message}`);
    expect(applyChange(table, restored.change)).toBe(true);
  }
  return table;
}

// ---------------------------------------------------------------------------------------------
// Random writes over small pools, so that they collide often.

const GROUPS: Labels[] = [{ job: 'a' }, { job: 'a', instance: 'i' }, { job: 'a', instance: '' }, { job: 'b' }, { job: 'b', x: '1' }];
// Mostly one name, so that types meet; the rest for suffixes, the Pushgateway's own families and gauges.
const NAMES = [
  'foo',
  'foo',
  'foo',
  'foo',
  'foo_count',
  'foo_bucket',
  'bar',
  'push_failure_time_seconds',
  'push_time_seconds',
  'go_goroutines',
  'pushgateway_http_requests_total',
  'go_gc_duration_seconds_sum',
];
const TYPES: MetricType[] = ['COUNTER', 'GAUGE', 'SUMMARY', 'UNTYPED', 'HISTOGRAM'];

const arbMetric = (type: MetricType): fc.Arbitrary<PushedMetric> =>
  fc
    .record({
      x: fc.constantFrom(undefined, '1', '2'),
      instance: fc.constantFrom(undefined, undefined, 'i', ''),
      job: fc.constantFrom(undefined, undefined, 'b'),
      values: fc.oneof({ weight: 6, arbitrary: fc.constant(VALUE_OF_TYPE[type]) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 31 }) }),
      hasTimestamp: fc.oneof({ weight: 30, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
    })
    .map(({ values, hasTimestamp, ...labels }) => ({
      labels: Object.entries(labels).flatMap(([name, value]): Array<[string, string]> => (value === undefined ? [] : [[name, value]])),
      values,
      hasTimestamp,
    }));

const arbFamily: fc.Arbitrary<PushedFamily> = fc
  .record({
    name: fc.constantFrom(...NAMES),
    type: fc.constantFrom(...TYPES),
    help: fc.constantFrom('', 'h', PUSHGATEWAY_OWN_FAMILIES.get('pushgateway_http_requests_total')!.help),
  })
  .chain(({ name, type, help }) => fc.array(arbMetric(type), { maxLength: 3 }).map((metrics) => ({ name, type, help, metrics })));

const arbWrite: fc.Arbitrary<GroupWrite> = fc
  .record({
    group: fc.constantFrom(...GROUPS),
    method: fc.constantFrom<WriteMethod>('PUT', 'PUT', 'POST', 'POST', 'DELETE'),
    families: fc.uniqueArray(arbFamily, { maxLength: 3, selector: (f) => f.name }),
  })
  .map(({ group, method, families }) => writeOf(method, group, method === 'DELETE' ? [] : families));

/** Judges and commits one write as a front door would, keeping the model store in step. */
function step(table: Map<string, string>, store: Store, write: GroupWrite): Verdict {
  const allowed = new Set(fieldsOf(write));
  const verdict = judgeWrite(
    write,
    (f) => {
      if (!allowed.has(f)) throw new Error(`the judge read ${f}, which fieldsOf did not name`);
      return table.get(f);
    },
    NO_LIMIT,
  );
  if (verdict.ok) {
    expect(applyChange(table, verdict.change)).toBe(true);
    expect(applyChange(table, verdict.settle)).toBe(true);
    storeWrite(store, write);
  } else if (verdict.kind === 'inconsistent' && verdict.failure !== undefined) {
    expect(applyChange(table, verdict.failure)).toBe(true);
    storeFailure(store, write);
  }
  return verdict;
}

describe('judgeWrite: properties', () => {
  it('accepts a write exactly when the store it leaves is consistent, and poisons nothing', () => {
    fc.assert(
      fc.property(fc.array(arbWrite, { minLength: 3, maxLength: 30 }), (writes) => {
        const table = new Map<string, string>();
        const store: Store = new Map();
        for (const write of writes) {
          const hasTimestamps = write.families.some((f) => f.metrics.some((m) => m.hasTimestamp));
          const ifStored = cloneStore(store);
          storeWrite(ifStored, write);
          const ifFailed = cloneStore(store);
          storeFailure(ifFailed, write);
          const verdict = step(table, store, write);
          expect(verdict.ok).toBe(!hasTimestamps && isConsistentStore(ifStored));
          if (!verdict.ok && verdict.kind === 'inconsistent') expect(verdict.failure !== undefined).toBe(isConsistentStore(ifFailed));
          expect(isConsistentStore(store)).toBe(true);
        }
      }),
      { numRuns: 400 },
    );
  });

  it('leaves the index equal to the one rebuilt from scratch, in any order of groups', () => {
    fc.assert(
      fc.property(fc.array(arbWrite, { minLength: 3, maxLength: 30 }), fc.integer(), (writes, seed) => {
        const table = new Map<string, string>();
        const store: Store = new Map();
        for (const write of writes) step(table, store, write);
        const order = [...store.keys()].sort((a, b) => ((hash(a) ^ seed) < (hash(b) ^ seed) ? -1 : 1));
        expect(rebuild(store, order)).toEqual(table);
      }),
      { numRuns: 300 },
    );
  });

  it('two writes judged against one state, committed in either order, never leave an inconsistent store', () => {
    fc.assert(
      fc.property(fc.array(arbWrite, { minLength: 2, maxLength: 12 }), arbWrite, arbWrite, fc.boolean(), (writes, first, second, swap) => {
        const table = new Map<string, string>();
        const store: Store = new Map();
        for (const write of writes) step(table, store, write);
        const judged = [first, second].map((write) => ({ write, verdict: judgeWrite(write, (f) => table.get(f), NO_LIMIT) }));
        if (swap) judged.reverse();
        for (const { write, verdict } of judged) {
          const change = verdict.ok ? verdict.change : verdict.kind === 'inconsistent' ? verdict.failure : undefined;
          if (change === undefined || !applyChange(table, change)) continue;
          if (verdict.ok) {
            expect(applyChange(table, verdict.settle)).toBe(true);
            storeWrite(store, write);
          } else storeFailure(store, write);
        }
        expect(isConsistentStore(store)).toBe(true);
        expect(rebuild(store, [...store.keys()])).toEqual(table);
      }),
      { numRuns: 400 },
    );
  });

  it('an undo right after its change restores the table exactly', () => {
    fc.assert(
      fc.property(fc.array(arbWrite, { maxLength: 15 }), arbWrite, (writes, last) => {
        const table = new Map<string, string>();
        const store: Store = new Map();
        for (const write of writes) step(table, store, write);
        const verdict = judgeWrite(last, (f) => table.get(f), NO_LIMIT);
        if (!verdict.ok) return;
        const before = new Map(table);
        expect(applyChange(table, verdict.change)).toBe(true);
        expect(applyChange(table, verdict.undo)).toBe(true);
        expect(table).toEqual(before);
      }),
      { numRuns: 300 },
    );
  });

  it('forgetting every group empties the index', () => {
    fc.assert(
      fc.property(fc.array(arbWrite, { maxLength: 20 }), (writes) => {
        const table = new Map<string, string>();
        const store: Store = new Map();
        for (const write of writes) step(table, store, write);
        for (const group of store.keys()) expect(applyChange(table, forgetGroup(group, table.get(GROUP_FIELD_PREFIX + group)!))).toBe(true);
        expect(table.size).toBe(0);
      }),
      { numRuns: 200 },
    );
  });
});

function hash(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) | 0;
  return h;
}
