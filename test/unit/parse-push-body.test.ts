import { describe, expect, it } from 'vitest';
import { isDelimitedProtobuf, parseMediaType, parsePushBody } from '../../src/core/parse-push-body.js';
import type { BodyLimits } from '../../src/core/push-body.js';
import { family, frame, METRIC_TYPE, metric } from '../helpers/protobuf.js';

const PB = 'application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited';
const LIMITS: BodyLimits = { maxFamilies: 10, maxSeries: 10, maxLabelsPerSeries: 10, maxStringBytes: 100 };

// Each case was sent to a Pushgateway 1.5.1 with a protobuf body: protobuf if it parsed it as such.
describe('isDelimitedProtobuf decides as handler/push.go with Go 1.19 mime.ParseMediaType', () => {
  it.each<[string | undefined, boolean]>([
    [PB, true],
    ['application/vnd.google.protobuf; encoding=delimited; proto=io.prometheus.client.MetricFamily', true],
    ['Application/Vnd.Google.Protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited', true],
    ['application/vnd.google.protobuf; PROTO=io.prometheus.client.MetricFamily; ENCODING=delimited', true],
    ['application/vnd.google.protobuf;proto="io.prometheus.client.MetricFamily";encoding="delimited"', true],
    ['  application/vnd.google.protobuf  ; proto = io.prometheus.client.MetricFamily ; encoding = delimited ', true],
    ['application/vnd.google.protobuf\t; proto=io.prometheus.client.MetricFamily;\tencoding=delimited', true],
    [PB + ';', true],
    [PB + '; version=0.0.4', true],
    ["application/vnd.google.protobuf; proto*=utf-8''io.prometheus.client.MetricFamily; encoding=delimited", true],
    ["application/vnd.google.protobuf; proto*=utf-8''io.prometheus.client.MetricFamily; encoding=delimited;", true],
    ["application/vnd.google.protobuf; proto=foo; proto*=utf-8''io.prometheus.client.MetricFamily; encoding=delimited", true],
    ['application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; proto*=bogus; encoding=delimited', true],
    ["application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; proto*=utf-8''%zz; encoding=delimited", true],
    ['application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding*0=deli; encoding*1=mited', true],
    ["application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding*0*=utf-8''del%69; encoding*1*=mi%74ed", true],
    ['application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding*0*=bogus; encoding*1=delimited', true],
    // Node gives a header one character per byte; Go lower-cases the UTF-8 İ to i.
    [Buffer.from('applİcation/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited').toString('latin1'), true],
    [undefined, false],
    ['', false],
    [PB.toUpperCase(), false],
    ['application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=Delimited', false],
    [PB + ';;', false],
    [PB + '; encoding=delimited', false],
    [PB + '; x', false],
    [PB + '; x=', false],
    [PB + '; =x', false],
    [PB + ' x', false],
    ['application/vnd.google.protobuf; proto="io.prometheus.client.\\MetricFamily"; encoding=delimited', false],
    ['application/vnd.google.protobuf; proto="io.prometheus.client.MetricFamily\\"; encoding=delimited', false],
    ['application/vnd.google.protobuf; proto="io.prometheus.client.MetricFamily"x; encoding=delimited', false],
    ['application/vnd.google.protobuf; encoding="delimited\\;"; proto=io.prometheus.client.MetricFamily', false],
    ['application/vnd.google.protobuf proto=io.prometheus.client.MetricFamily; encoding=delimited', false],
    ['application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily, encoding=delimited', false],
    ['application/vnd.google.protobuf/x; proto=io.prometheus.client.MetricFamily; encoding=delimited', false],
    ['application/vnd.google.protobuf;', false],
    ['text/plain; version=0.0.4', false],
  ])('%j: %s', (header, protobuf) => {
    expect(isDelimitedProtobuf(header)).toBe(protobuf);
  });
});

describe('parseMediaType', () => {
  it('unescapes a quoted tspecial and keeps a backslash before anything else', () => {
    expect(parseMediaType('a/b; x="1\\"2\\q"')?.params.get('x')).toBe('1"2\\q');
  });
  it('refuses a repeated parameter and a value left open', () => {
    expect(parseMediaType('a/b; x=1; X=1')).toBeUndefined();
    expect(parseMediaType('a/b; x="1')).toBeUndefined();
  });
  it('takes a bare type and trims Unicode spaces', () => {
    expect(parseMediaType('\u00a0text\u3000')?.mediaType).toBe('text');
  });
});

describe('parsePushBody', () => {
  const protobuf = frame(family.name('g'), family.type(METRIC_TYPE.GAUGE), family.metric(metric.gauge(1)));
  it('parses protobuf when the header says so, text otherwise', () => {
    expect(parsePushBody(protobuf, PB, LIMITS)).toMatchObject({ ok: true, families: [{ name: 'g', type: 'GAUGE' }] });
    expect(parsePushBody(protobuf, 'application/vnd.google.protobuf', LIMITS)).toEqual({
      ok: false,
      kind: 'invalid',
      message: 'text format parsing error in line 1: invalid metric name',
    });
    expect(parsePushBody(Buffer.from('g 1\n'), undefined, LIMITS)).toMatchObject({ ok: true, families: [{ name: 'g', type: 'UNTYPED' }] });
  });
  it('hands a stream error to the parser it picked', () => {
    expect(parsePushBody(protobuf, PB, LIMITS, 'unexpected EOF')).toEqual({ ok: false, kind: 'invalid', message: 'unexpected EOF' });
    expect(parsePushBody(Buffer.from('g 1\n'), undefined, LIMITS, 'unexpected EOF').ok).toBe(true);
  });
});
