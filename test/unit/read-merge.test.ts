import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ApiGroup } from '../../src/core/exposition.js';
import {
  authoritativeShard,
  classifyLine,
  createLineSplitter,
  groupIdentities,
  isPushedSeries,
  lineIdentity,
  nextFamily,
  readOrder,
  parseSeriesLine,
} from '../../src/core/read-merge.js';

describe('classifyLine', () => {
  it.each([
    ['# HELP foo Some help.', { kind: 'help', family: 'foo', line: '# HELP foo Some help.' }],
    ['# TYPE foo counter', { kind: 'type', family: 'foo', line: '# TYPE foo counter', type: 'counter' }],
    ['# TYPE foo', { kind: 'type', family: 'foo', line: '# TYPE foo', type: '' }],
    ['# a comment', { kind: 'other' }],
    ['', { kind: 'other' }],
    ['foo{job="a"} 1', { kind: 'series', line: 'foo{job="a"} 1' }],
  ])('%j', (line, want) => {
    expect(classifyLine(line)).toEqual(want);
  });
});

describe('parseSeriesLine', () => {
  it.each([
    ['foo 1', { name: 'foo', labels: [] }],
    ['foo{} 1', { name: 'foo', labels: [] }],
    [
      'foo{job="a",instance=""} 1',
      {
        name: 'foo',
        labels: [
          ['job', 'a'],
          ['instance', ''],
        ],
      },
    ],
    [
      'foo{a="x\\"y,z}",b="\\\\n"} 1',
      {
        name: 'foo',
        labels: [
          ['a', 'x"y,z}'],
          ['b', '\\n'],
        ],
      },
    ],
    ['foo{a="line\\nbreak"} 1', { name: 'foo', labels: [['a', 'line\nbreak']] }],
    ['foo{a="unterminated} 1', undefined],
  ])('%s', (line, want) => {
    expect(parseSeriesLine(line)).toEqual(want);
  });

  it('reads back any label value written as Go escapes it', () => {
    fc.assert(
      fc.property(fc.string(), (value) => {
        const escaped = value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
        expect(parseSeriesLine(`m{job="j",v="${escaped}"} 1`)?.labels).toEqual([
          ['job', 'j'],
          ['v', value],
        ]);
      }),
    );
  });
});

describe('series identities', () => {
  const group: ApiGroup = {
    labels: { job: 'j', instance: 'i' },
    h: {
      type: 'HISTOGRAM',
      metrics: [{ labels: { job: 'j', instance: 'i' }, buckets: { '1': '2' }, count: '2', sum: '1' }],
    },
    s: { type: 'SUMMARY', metrics: [{ labels: { instance: 'i', job: 'j' }, quantiles: { '0.5': '1' }, count: '1', sum: '1' }] },
    g: { type: 'GAUGE', metrics: [{ labels: { job: 'j', instance: 'i', x: 'y' }, value: '1' }] },
    push_time_seconds: { type: 'GAUGE', metrics: [{ labels: { job: 'j', instance: 'i' }, value: '1.7e+09' }] },
  };

  it('are the same for a group of /api/v1/metrics and every text line it becomes', () => {
    const ids = new Set(groupIdentities(group));
    expect(ids.size).toBe(4);
    for (const [family, type, line] of [
      ['h', 'histogram', 'h_bucket{instance="i",job="j",le="1"} 2'],
      ['h', 'histogram', 'h_bucket{instance="i",job="j",le="+Inf"} 2'],
      ['h', 'histogram', 'h_sum{instance="i",job="j"} 1'],
      ['h', 'histogram', 'h_count{instance="i",job="j"} 2'],
      ['s', 'summary', 's{instance="i",job="j",quantile="0.5"} 1'],
      ['s', 'summary', 's_count{instance="i",job="j"} 1'],
      ['g', 'gauge', 'g{instance="i",job="j",x="y"} 1'],
      ['push_time_seconds', 'gauge', 'push_time_seconds{instance="i",job="j"} 1.7e+09'],
    ] as const) {
      expect(ids.has(lineIdentity(family, type, line)!), line).toBe(true);
    }
  });

  it('differ for another group, label or family', () => {
    const ids = new Set(groupIdentities(group));
    for (const [family, type, line] of [
      ['g', 'gauge', 'g{instance="i2",job="j",x="y"} 1'],
      ['g', 'gauge', 'g{instance="i",job="j"} 1'],
      ['h2', 'histogram', 'h2_sum{instance="i",job="j"} 1'],
      // `le` is a label like any other outside a histogram.
      ['g', 'gauge', 'g{instance="i",job="j",le="1",x="y"} 1'],
    ] as const) {
      expect(ids.has(lineIdentity(family, type, line)!), line).toBe(false);
    }
  });
});

describe('isPushedSeries', () => {
  it.each([
    ['go_goroutines 12', false],
    ['pushgateway_http_requests_total{code="200",handler="push",method="put"} 3', false],
    ['go_goroutines{instance="x",job="gojob"} 8', true],
    ['m{jobs="x"} 1', false],
    ['m{a="job=\\"x\\"",job="y"} 1', true],
  ])('%s', (line, want) => {
    expect(isPushedSeries(line)).toBe(want);
  });
});

describe('authoritativeShard', () => {
  it.each([
    ['b', undefined, 'b'],
    ['b', 'a', 'a'],
  ] as const)('owner %s, previous owner %s: %s', (owner, previous, want) => {
    expect(authoritativeShard(owner, previous)).toBe(want);
  });
});

describe('readOrder', () => {
  const r = (up: boolean, suspect: boolean): { up: boolean; suspect: boolean } => ({ up, suspect });
  it.each([
    { name: 'both trusted and live: configuration order', replicas: [r(true, false), r(true, false)], order: [0, 1] },
    { name: 'a suspect replica after its trusted twin', replicas: [r(true, true), r(true, false)], order: [1, 0] },
    { name: 'a replica believed down last, even behind a suspect one', replicas: [r(false, false), r(true, true)], order: [1, 0] },
    { name: 'down and suspect: still tried, last', replicas: [r(false, true), r(false, false), r(true, false)], order: [2, 1, 0] },
    { name: 'no replica', replicas: [], order: [] },
  ])('$name', ({ replicas, order }) => {
    expect(readOrder(replicas)).toEqual(order);
  });

  it('tries every replica exactly once, ranks never decreasing', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ up: fc.boolean(), suspect: fc.boolean() }), { maxLength: 8 }), (replicas) => {
        const order = readOrder(replicas);
        expect([...order].sort((a, b) => a - b)).toEqual(replicas.map((_r, i) => i));
        const rank = (i: number): number => (replicas[i]!.up ? 0 : 2) + (replicas[i]!.suspect ? 1 : 0);
        for (let i = 1; i < order.length; i++) expect(rank(order[i]!)).toBeGreaterThanOrEqual(rank(order[i - 1]!));
      }),
    );
  });
});

describe('nextFamily', () => {
  it.each([
    [[], undefined],
    [[undefined, undefined], undefined],
    [['b', undefined, 'a'], 'a'],
    [['push_time_seconds', 'go_goroutines'], 'go_goroutines'],
  ] as const)('%j: %s', (heads, want) => {
    expect(nextFamily(heads)).toBe(want);
  });

  it('visits every family once, in order, when each source is sorted', () => {
    fc.assert(
      fc.property(fc.array(fc.uniqueArray(fc.stringMatching(/^[a-z_]{1,6}$/)), { maxLength: 4 }), (lists) => {
        const sources = lists.map((l) => [...l].sort());
        const at = sources.map(() => 0);
        const seen: string[] = [];
        for (let f = nextFamily(sources.map((s, i) => s[at[i]!])); f !== undefined; f = nextFamily(sources.map((s, i) => s[at[i]!]))) {
          seen.push(f);
          sources.forEach((s, i) => {
            if (s[at[i]!] === f) at[i]!++;
          });
        }
        expect(seen).toEqual([...new Set(sources.flat())].sort());
      }),
    );
  });
});

describe('createLineSplitter', () => {
  it('gives the same lines wherever the bytes are cut, multi-byte characters included', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'grapheme' })), fc.array(fc.nat()), (lines, cuts) => {
        const clean = lines.map((l) => l.replace(/\n/g, ''));
        const bytes = Buffer.from(clean.join('\n'));
        const splitter = createLineSplitter();
        const out: string[] = [];
        let from = 0;
        for (const cut of [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b).concat(bytes.length)) {
          out.push(...splitter.push(bytes.subarray(from, cut)));
          from = cut;
        }
        out.push(...splitter.end());
        // A last empty line is the newline that ends the one before it, as in a file.
        const want = clean.join('\n').split('\n');
        if (want[want.length - 1] === '') want.pop();
        expect(out).toEqual(want);
      }),
    );
  });
});
