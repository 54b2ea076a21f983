import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseProtobufFormat } from '../../src/core/protobuf-format.js';
import type { BodyLimits, ParsedBody, PushedFamily } from '../../src/core/push-body.js';
import { VALUE_COUNTER, VALUE_GAUGE, VALUE_HISTOGRAM, VALUE_SUMMARY, VALUE_UNTYPED } from '../../src/core/push-body.js';
import { encodeDelimitedMetricFamilies, family, frame, METRIC_TYPE, metric, pb, type SimpleMetricFamily } from '../helpers/protobuf.js';

const LIMITS: BodyLimits = { maxFamilies: 100, maxSeries: 1000, maxLabelsPerSeries: 32, maxStringBytes: 1024 };

function parse(body: Buffer, limits: BodyLimits = LIMITS, streamError?: string): ParsedBody {
  return parseProtobufFormat(body, limits, streamError);
}

function families(body: Buffer): PushedFamily[] {
  const parsed = parse(body);
  if (!parsed.ok) throw new Error(`${body.toString('hex')}: ${JSON.stringify(parsed)}`);
  return [...parsed.families];
}

const refused = (message: string): ParsedBody => ({ ok: false, kind: 'invalid', message });
const m = (labels: [string, string][], values: number, hasTimestamp = false) => ({ labels, values, hasTimestamp });
const gaugeFrame = (name: string) => frame(family.name(name), family.type(METRIC_TYPE.GAUGE), family.metric(metric.gauge(1)));

describe('parseProtobufFormat reads what the Pushgateway reads', () => {
  it.each<[string, Buffer, PushedFamily[]]>([
    [
      'a gauge with labels and help',
      frame(
        family.name('g'),
        family.help('The g.'),
        family.type(METRIC_TYPE.GAUGE),
        family.metric(metric.label('a', '1'), metric.label('b', ''), metric.gauge(2)),
      ),
      [
        {
          name: 'g',
          help: 'The g.',
          type: 'GAUGE',
          metrics: [
            m(
              [
                ['a', '1'],
                ['b', ''],
              ],
              VALUE_GAUGE,
            ),
          ],
        },
      ],
    ],
    [
      'every value field, one metric each',
      frame(
        family.name('x'),
        family.type(METRIC_TYPE.UNTYPED),
        family.metric(metric.counter(1)),
        family.metric(metric.summary(3, 4, [[0.5, 1]])),
        family.metric(metric.untyped(1), metric.timestampMs(1700000000000)),
        family.metric(metric.histogram(2, 3, [[1, 2]])),
      ),
      [{ name: 'x', help: '', type: 'UNTYPED', metrics: [m([], VALUE_COUNTER), m([], VALUE_SUMMARY), m([], VALUE_UNTYPED, true), m([], VALUE_HISTOGRAM)] }],
    ],
    [
      'several value fields, or none',
      frame(family.name('x'), family.type(METRIC_TYPE.GAUGE), family.metric(metric.gauge(1), metric.counter(2)), family.metric(metric.label('a', 'b'))),
      [{ name: 'x', help: '', type: 'GAUGE', metrics: [m([], VALUE_GAUGE | VALUE_COUNTER), m([['a', 'b']], 0)] }],
    ],
    ['no type is COUNTER, the enum default', frame(family.name('c')), [{ name: 'c', help: '', type: 'COUNTER', metrics: [] }]],
    ['an empty frame is a family named ""', frame(), [{ name: '', help: '', type: 'COUNTER', metrics: [] }]],
    ['an empty body', Buffer.alloc(0), []],
    [
      'a later family of the same name replaces the earlier',
      Buffer.concat([gaugeFrame('g'), frame(family.name('g'), family.help('second'))]),
      [{ name: 'g', help: 'second', type: 'COUNTER', metrics: [] }],
    ],
    [
      'the last of a repeated scalar wins',
      frame(family.name('a'), family.name('b'), family.type(METRIC_TYPE.GAUGE), family.type(METRIC_TYPE.SUMMARY)),
      [{ name: 'b', help: '', type: 'SUMMARY', metrics: [] }],
    ],
    [
      'a field of the wrong wire type is skipped as unknown',
      frame(pb.varint(1, 7), family.name('n'), pb.key(3, 2), pb.raw('01 00'), family.metric(pb.varint(2, 1), pb.bytes(6, pb.raw('ff')))),
      [{ name: 'n', help: '', type: 'COUNTER', metrics: [m([], 0)] }],
    ],
    [
      'unknown fields of every wire type, groups nested, are skipped',
      frame(
        family.name('u'),
        pb.varint(99, 1),
        pb.double(98, 1),
        pb.key(97, 5),
        pb.raw('00000000'),
        pb.bytes(96, pb.raw('ff')),
        pb.raw('db 06 08 01 db 06 dc 06 dc 06'),
      ),
      [{ name: 'u', help: '', type: 'COUNTER', metrics: [] }],
    ],
    [
      'a type number outside the enum is kept (proto2 does not check it)',
      frame(family.name('t'), family.type(9), family.metric(metric.gauge(1))),
      [{ name: 't', help: '', type: 'UNTYPED', unknownType: 9, metrics: [m([], VALUE_GAUGE)] }],
    ],
    [
      'the type is the low 32 bits of its varint, as Go converts it',
      frame(family.name('t'), family.type(2 ** 32 + 1)),
      [{ name: 't', help: '', type: 'GAUGE', metrics: [] }],
    ],
    ['a negative type', frame(family.name('t'), family.type(-1)), [{ name: 't', help: '', type: 'UNTYPED', unknownType: -1, metrics: [] }]],
    [
      'strings are not checked for UTF-8: invalid bytes survive',
      frame(pb.bytes(1, Buffer.from('n')), family.metric(pb.bytes(1, pb.string(1, 'a'), pb.bytes(2, pb.raw('ff c3'))))),
      [{ name: 'n', help: '', type: 'COUNTER', metrics: [m([['a', '\udcff\udcc3']], 0)] }],
    ],
    [
      'a label pair without name or value',
      frame(family.name('p'), family.metric(pb.bytes(1))),
      [{ name: 'p', help: '', type: 'COUNTER', metrics: [m([['', '']], 0)] }],
    ],
    [
      'packed and plain repeated numbers of a native histogram',
      frame(
        family.name('h'),
        family.type(METRIC_TYPE.HISTOGRAM),
        family.metric(
          pb.bytes(
            7,
            pb.varint(5, 3),
            pb.bytes(9, pb.varint(1, 0), pb.varint(2, 2)),
            pb.bytes(10, pb.raw('02 04')),
            pb.varint(13, 1),
            pb.bytes(11, pb.raw('0000000000000000')),
          ),
        ),
      ),
      [{ name: 'h', help: '', type: 'HISTOGRAM', metrics: [m([], VALUE_HISTOGRAM)] }],
    ],
    [
      'an exemplar with labels and a timestamp',
      frame(
        family.name('c'),
        family.metric(pb.bytes(3, pb.double(1, 1), pb.bytes(2, metric.label('trace', 'x'), pb.double(2, 1), pb.bytes(3, pb.varint(1, 5), pb.varint(2, 6))))),
      ),
      [{ name: 'c', help: '', type: 'COUNTER', metrics: [m([], VALUE_COUNTER)] }],
    ],
  ])('%s', (_name, body, expected) => {
    expect(families(body)).toEqual(expected);
  });
});

describe('frames end as pbutil.ReadDelimited ends them', () => {
  const one = gaugeFrame('g');
  const oneFamily = families(one);
  it.each([
    ['a partial length prefix at the end', Buffer.concat([one, pb.raw('80')])],
    ['four bytes of a prefix at the end', Buffer.concat([one, pb.raw('80 80 80 80')])],
    ['a prefix and nothing after it', Buffer.concat([one, pb.raw('05')])],
  ])('%s ends the body cleanly (io.EOF)', (_name, body) => {
    expect(parse(body)).toEqual({ ok: true, families: oneFamily });
  });

  it.each([
    ['five continuation bytes', Buffer.concat([one, pb.raw('80 80 80 80 80')]), 'invalid varint32 encountered'],
    ['a frame shorter than its prefix', Buffer.concat([one, pb.raw('05 0a')]), 'unexpected EOF'],
    ['the 9-byte frame claiming 16 GiB', pb.raw('80 80 80 80 40 aa bb cc dd'), 'unexpected EOF'],
    ['a bare prefix claiming more than the body', pb.raw('80 80 80 80 40'), 'unexpected EOF'],
  ])('%s is refused', (_name, body, message) => {
    expect(parse(body)).toEqual(refused(message));
  });

  it("ends with a broken gzip stream's message instead of a clean end", () => {
    expect(parse(one, LIMITS, 'gzip: invalid checksum')).toEqual(refused('gzip: invalid checksum'));
    expect(parse(Buffer.concat([one, pb.raw('05 0a')]), LIMITS, 'unexpected EOF')).toEqual(refused('unexpected EOF'));
  });
});

describe('decoding errors are golang/protobuf 1.3.5 messages', () => {
  const inMetric = (...fields: Buffer[]) => frame(family.name('x'), family.metric(...fields));
  it.each([
    ['field 0 of a family', frame(pb.raw('00 01')), 'proto: io_prometheus_client.MetricFamily: illegal tag 0 (wire type 0)'],
    ['an overlong field 0', frame(pb.raw('82 00')), 'proto: io_prometheus_client.MetricFamily: illegal tag 0 (wire type 2)'],
    ['field 0 of a metric', inMetric(pb.raw('00 01')), 'proto: io_prometheus_client.Metric: illegal tag 0 (wire type 0)'],
    ['field 0 of a label pair', inMetric(pb.bytes(1, pb.raw('05'))), 'proto: io_prometheus_client.LabelPair: illegal tag 0 (wire type 5)'],
    ['field 0 of a gauge', inMetric(pb.bytes(2, pb.raw('00 00'))), 'proto: io_prometheus_client.Gauge: illegal tag 0 (wire type 0)'],
    ['field 0 of a counter', inMetric(pb.bytes(3, pb.raw('00 00'))), 'proto: io_prometheus_client.Counter: illegal tag 0 (wire type 0)'],
    ['field 0 of an exemplar', inMetric(pb.bytes(3, pb.bytes(2, pb.raw('00 00')))), 'proto: io_prometheus_client.Exemplar: illegal tag 0 (wire type 0)'],
    ['field 0 of a timestamp', inMetric(pb.bytes(3, pb.bytes(2, pb.bytes(3, pb.raw('00 00'))))), 'proto: timestamp.Timestamp: illegal tag 0 (wire type 0)'],
    ['field 0 of a summary', inMetric(pb.bytes(4, pb.raw('00 00'))), 'proto: io_prometheus_client.Summary: illegal tag 0 (wire type 0)'],
    ['field 0 of a quantile', inMetric(pb.bytes(4, pb.bytes(3, pb.raw('00 00')))), 'proto: io_prometheus_client.Quantile: illegal tag 0 (wire type 0)'],
    ['field 0 of an untyped', inMetric(pb.bytes(5, pb.raw('00 00'))), 'proto: io_prometheus_client.Untyped: illegal tag 0 (wire type 0)'],
    ['field 0 of a histogram', inMetric(pb.bytes(7, pb.raw('00 00'))), 'proto: io_prometheus_client.Histogram: illegal tag 0 (wire type 0)'],
    ['field 0 of a bucket', inMetric(pb.bytes(7, pb.bytes(3, pb.raw('00 00')))), 'proto: io_prometheus_client.Bucket: illegal tag 0 (wire type 0)'],
    ['field 0 of a bucket span', inMetric(pb.bytes(7, pb.bytes(12, pb.raw('00 00')))), 'proto: io_prometheus_client.BucketSpan: illegal tag 0 (wire type 0)'],
    ['an end-group key with no group', frame(pb.raw('2c')), "proto: can't skip unknown wire type 4"],
    ['wire type 6', frame(pb.raw('2e')), "proto: can't skip unknown wire type 6"],
    ['a ten-byte key ending in wire type 7', frame(pb.raw('ff ff ff ff ff ff ff ff ff 01')), "proto: can't skip unknown wire type 7"],
    ['an eleven-byte key', frame(pb.raw('ff ff ff ff ff ff ff ff ff ff 01')), 'unexpected EOF'],
    ['a string past its message', frame(pb.raw('0a 05 61')), 'unexpected EOF'],
    ['a varint cut by its message end', frame(pb.raw('18 80')), 'unexpected EOF'],
    ['a double cut short', inMetric(pb.bytes(2, pb.raw('09 00 00'))), 'unexpected EOF'],
    ['a group without its end', frame(pb.raw('2b 08 01')), 'unexpected EOF'],
    ['a packed varint cut short', inMetric(pb.bytes(7, pb.bytes(10, pb.raw('80')))), 'unexpected EOF'],
    ['packed doubles not a multiple of 8', inMetric(pb.bytes(7, pb.bytes(14, pb.raw('00 00 00')))), 'unexpected EOF'],
    ['a nested message past its parent', frame(family.name('x'), pb.raw('22 05 0a')), 'unexpected EOF'],
  ])('%s', (_name, body, message) => {
    expect(parse(body)).toEqual(refused(message));
  });

  it('reports the first error in the order of the bytes', () => {
    const body = Buffer.concat([frame(family.name('ok')), frame(pb.raw('00 01')), frame(pb.raw('2e'))]);
    expect(parse(body)).toEqual(refused('proto: io_prometheus_client.MetricFamily: illegal tag 0 (wire type 0)'));
  });
});

describe('body limits', () => {
  const tight: BodyLimits = { maxFamilies: 2, maxSeries: 3, maxLabelsPerSeries: 2, maxStringBytes: 8 };
  it.each([
    ['a third family', Buffer.concat([gaugeFrame('a'), gaugeFrame('b'), gaugeFrame('c')]), 'maxFamilies'],
    ['a fourth series', frame(family.name('a'), ...[1, 2, 3, 4].map(() => family.metric(metric.gauge(1)))), 'maxSeries'],
    ['a third label', frame(family.name('a'), family.metric(metric.label('x', '1'), metric.label('y', '1'), metric.label('z', '1'))), 'maxLabelsPerSeries'],
    ['a long name', frame(family.name('abcdefghi')), 'maxStringBytes'],
    ['a long help', frame(family.help('abcdefghi')), 'maxStringBytes'],
    ['a long label value', frame(family.metric(metric.label('a', 'abcdefghi'))), 'maxStringBytes'],
  ])('%s', (_name, body, limit) => {
    expect(parse(body, tight)).toEqual({ ok: false, kind: 'too-large', limit, max: tight[limit as keyof BodyLimits] });
  });

  it('counts a replaced family once', () => {
    expect(parse(Buffer.concat([gaugeFrame('a'), gaugeFrame('a'), gaugeFrame('b'), gaugeFrame('a')]), tight).ok).toBe(true);
  });
});

describe('parseProtobufFormat, properties', () => {
  const simpleFamily = fc.record({
    name: fc.constantFrom('a', 'b', 'c_total', 'd:e'),
    help: fc.option(fc.string({ maxLength: 8 }), { nil: undefined }),
    type: fc.constantFrom('COUNTER', 'GAUGE', 'UNTYPED'),
    metrics: fc.array(
      fc.record({
        labels: fc.dictionary(fc.constantFrom('a', 'b', 'instance'), fc.string({ maxLength: 5 }), { maxKeys: 3 }),
        value: fc.double(),
        timestampMs: fc.option(fc.integer({ min: -1e12, max: 1e13 }), { nil: undefined }),
      }),
      { maxLength: 3 },
    ),
  }) as fc.Arbitrary<SimpleMetricFamily>;

  it('reads back what the encoder wrote, the last family of a name winning', () => {
    fc.assert(
      fc.property(fc.array(simpleFamily, { maxLength: 5 }), (fams) => {
        const last = new Map(fams.map((f) => [f.name, f]));
        const bits = { COUNTER: VALUE_COUNTER, GAUGE: VALUE_GAUGE, UNTYPED: VALUE_UNTYPED };
        const expected = [...new Set(fams.map((f) => f.name))].map((name) => {
          const f = last.get(name)!;
          return {
            name,
            help: f.help ?? '',
            type: f.type,
            metrics: f.metrics.map((x) => m(Object.entries(x.labels ?? {}), bits[f.type], x.timestampMs !== undefined)),
          };
        });
        expect(parse(encodeDelimitedMetricFamilies(fams))).toEqual({ ok: true, families: expected });
      }),
    );
  });

  it('never throws and never reads past the body, whatever the bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (raw) => {
        const parsed = parse(Buffer.from(raw));
        expect(parsed.ok || parsed.kind === 'invalid' || parsed.kind === 'too-large').toBe(true);
      }),
    );
  });

  it('a cut inside a frame is "unexpected EOF", at a frame boundary a clean end', () => {
    fc.assert(
      fc.property(fc.array(simpleFamily, { minLength: 1, maxLength: 3 }), fc.nat(), (fams, at) => {
        const frames = fams.map((f) => encodeDelimitedMetricFamilies([f]));
        const body = Buffer.concat(frames);
        const cut = at % (body.length + 1);
        const boundaries = new Set<number>([0]);
        // Each frame's varint length prefix: where it starts, how many bytes, what it claims.
        const prefixes: Array<{ start: number; bytes: number; claims: number }> = [];
        let offset = 0;
        for (const f of frames) {
          let bytes = 1;
          while ((f[bytes - 1]! & 0x80) !== 0) bytes++;
          let claims = 0;
          for (let i = bytes - 1; i >= 0; i--) claims = claims * 128 + (f[i]! & 0x7f);
          prefixes.push({ start: offset, bytes, claims });
          boundaries.add((offset += f.length));
        }
        const parsed = parse(body.subarray(0, cut));
        // Inside a length prefix the end is clean (Go's ReadUvarint meets EOF); right after a whole
        // one too, unless the prefix claims more than the whole body.
        const prefix = prefixes.find((p) => cut > p.start && cut <= p.start + p.bytes);
        const clean = prefix !== undefined && (cut < prefix.start + prefix.bytes || prefix.claims <= cut);
        if (boundaries.has(cut) || clean) expect(parsed.ok).toBe(true);
        else expect(parsed).toEqual(refused('unexpected EOF'));
      }),
    );
  });
});
