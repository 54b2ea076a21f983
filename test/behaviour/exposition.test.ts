/**
 * Lossless re-push: a group read from one real Pushgateway's /api/v1/metrics, encoded by
 * encodeGroup and pushed to another, reads back identical (push times aside).
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeGroup, type ApiFamily, type ApiGroup, type ApiMetric } from '../../src/core/exposition.js';
import { formatGroupingPath, makeGroupingKey } from '../../src/core/grouping-key.js';
import { rawGroups, startPushgateway, type Pushgateway } from '../helpers/pushgateway.js';

let source: Pushgateway;
let copy: Pushgateway;
beforeAll(async () => {
  [source, copy] = await Promise.all([startPushgateway(), startPushgateway()]);
});
afterAll(async () => {
  await Promise.all([source?.close(), copy?.close()]);
});

const GROUP = { job: 'repair', instance: 'host-1' };
const path = formatGroupingPath(makeGroupingKey(new Map(Object.entries(GROUP))));

async function put(target: Pushgateway, body: string): Promise<void> {
  const res = await fetch(target.url + path, { method: 'PUT', body });
  if (res.status !== 200) throw new Error(`PUT ${res.status}: ${await res.text()}\n--- body ---\n${body}`);
}

/** Pushes `model` to the source, copies the source's JSON to the copy; returns both groups. */
async function roundTrip(model: ApiGroup): Promise<[unknown, unknown]> {
  await Promise.all([source.wipe(), copy.wipe()]);
  await put(source, encodeGroup(model));
  const [original] = (await rawGroups(source.url)) as unknown as ApiGroup[];
  await put(copy, encodeGroup(original!));
  const [copied] = await rawGroups(copy.url);
  return [comparable(original), comparable(copied)];
}

/** A group without what differs by construction: push times and per-family time stamps. */
function comparable(group: unknown): unknown {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(group as Record<string, unknown>)) {
    if (key === 'push_time_seconds' || key === 'push_failure_time_seconds' || key === 'last_push_successful') continue;
    if (typeof value === 'object' && value !== null && 'metrics' in value) {
      const { time_stamp: _ignored, ...family } = value as ApiFamily;
      out[key] = family;
    } else {
      out[key] = value;
    }
  }
  return out;
}

const goFloat = (x: number): string => (Number.isNaN(x) ? 'NaN' : x === Infinity ? '+Inf' : x === -Infinity ? '-Inf' : String(x));

describe('encodeGroup', () => {
  it('re-pushes every metric type, help texts and awkward label values losslessly', async () => {
    const labels = { ...GROUP, path: 'C:\\temp\\"quoted"\nnext line', emoji: 'ünïcødé ✓ 日本' };
    const model: ApiGroup = {
      labels: GROUP,
      a_gauge: {
        type: 'GAUGE',
        help: 'help with \\ backslash\nand newline',
        metrics: [
          { labels, value: '-1.5e-300' },
          { labels: GROUP, value: 'NaN' },
        ],
      },
      a_counter: { type: 'COUNTER', metrics: [{ labels: GROUP, value: '+Inf' }] },
      an_untyped: { type: 'UNTYPED', help: 'untyped', metrics: [{ labels: GROUP, value: '-Inf' }] },
      a_summary: {
        type: 'SUMMARY',
        help: 'summary',
        metrics: [{ labels: GROUP, quantiles: { '0.5': '1.25', '0.99': 'NaN', '0.9': '3' }, count: '7', sum: '12.5' }],
      },
      a_histogram: {
        type: 'HISTOGRAM',
        help: 'histogram',
        metrics: [{ labels, buckets: { '0.1': '1', '1': '3', '10': '4', '+Inf': '5' }, count: '5', sum: '17.75' }],
      },
    };
    const [original, copied] = await roundTrip(model);
    expect(copied).toEqual(original);
    expect(Object.keys(original as object).sort()).toEqual(['a_counter', 'a_gauge', 'a_histogram', 'a_summary', 'an_untyped', 'labels']);
  });

  it('re-pushes generated groups losslessly (property, through real Pushgateways)', async () => {
    const labelName = fc.stringMatching(/^[a-z][a-z0-9_]{0,6}$/).filter((n) => !['le', 'quantile', 'job', 'instance'].includes(n));
    // Characters the exposition format must escape or that delimit it, mixed with any others.
    const awkward = fc.constantFrom('\\', '"', '\n', '{', '}', ',', '=', ' ', '#');
    const labelValue = fc.string({ unit: fc.oneof(awkward, fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 })), maxLength: 12 });
    const value = fc.oneof(fc.double(), fc.integer().map(Number), fc.constantFrom(NaN, Infinity, -Infinity, 0)).map(goFloat);
    const count = fc.nat({ max: 1_000_000 });
    const metricLabels = fc.dictionary(labelName, labelValue, { maxKeys: 3 }).map((l) => ({ ...GROUP, ...l }));
    const metricOf = (type: ApiFamily['type']): fc.Arbitrary<ApiMetric> => {
      if (type === 'SUMMARY') {
        return fc.record({
          labels: metricLabels,
          quantiles: fc.dictionary(fc.double({ min: 0, max: 1, noNaN: true }).map(String), value, { maxKeys: 4 }),
          count: count.map(String),
          sum: value,
        });
      }
      if (type === 'HISTOGRAM') {
        return fc
          .record({
            labels: metricLabels,
            bounds: fc.uniqueArray(fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e9, max: 1e9 }), { maxLength: 4 }),
            counts: fc.array(count, { minLength: 5, maxLength: 5 }),
            sum: value,
          })
          .map(({ labels, bounds, counts, sum }) => {
            // Cumulative counts: non-decreasing over sorted bounds, +Inf holding the total.
            const sorted = [...bounds].sort((a, b) => a - b);
            let running = 0;
            const buckets: Record<string, string> = {};
            sorted.forEach((b, i) => (buckets[String(b)] = String((running += counts[i]!))));
            buckets['+Inf'] = String((running += counts[4]!));
            return { labels, buckets, count: String(running), sum };
          });
      }
      return fc.record({ labels: metricLabels, value });
    };
    const family = fc.constantFrom<ApiFamily['type']>('GAUGE', 'COUNTER', 'UNTYPED', 'SUMMARY', 'HISTOGRAM').chain((type) =>
      fc.record({
        type: fc.constant(type),
        help: fc.string({ unit: fc.oneof(fc.constantFrom('\\', '\n', '"'), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 })), maxLength: 20 }),
        // One sample per label set (an empty value is an absent label): the Pushgateway refuses duplicates.
        metrics: fc.uniqueArray(metricOf(type), {
          minLength: 1,
          maxLength: 3,
          selector: (m) =>
            JSON.stringify(
              Object.entries(m.labels ?? {})
                .filter(([, v]) => v !== '')
                .sort(),
            ),
        }),
      }),
    );
    const group = fc.array(family, { minLength: 1, maxLength: 4 }).map((families) => {
      const model: Record<string, unknown> = { labels: GROUP };
      families.forEach((f, i) => (model[`family_${i}`] = f));
      return model as unknown as ApiGroup;
    });
    await fc.assert(
      fc.asyncProperty(group, async (model) => {
        const [original, copied] = await roundTrip(model);
        expect(copied).toEqual(original);
      }),
      { numRuns: 40 },
    );
  });
});
