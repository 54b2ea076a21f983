import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseGroupingPath } from '../../src/core/grouping-key.js';
import { CONSISTENCY_CASES } from '../corpus/consistency.js';
import {
  checkExposition,
  createRandom,
  generateSequence,
  isProtobufStep,
  messageStartOf,
  PROTOBUF_TYPE,
  SEQUENCE_BOUNDS,
  type PushStep,
} from '../helpers/push-sequence.js';

function fingerprint(steps: readonly PushStep[]): string {
  return JSON.stringify(steps.map((s) => [s.method, s.path, s.contentType ?? null, s.body?.toString('base64') ?? null]));
}

/** The delimited frames of a protobuf body: each a varint length and that many bytes. */
function countFrames(body: Buffer): number {
  let frames = 0;
  let i = 0;
  while (i < body.length) {
    let length = 0;
    let shift = 0;
    for (;;) {
      const byte = body[i++]!;
      length += (byte & 0x7f) * 2 ** shift;
      shift += 7;
      if ((byte & 0x80) === 0) break;
    }
    i += length;
    frames += 1;
  }
  return frames;
}

describe('generateSequence', () => {
  it('gives the same steps, byte for byte, for the same seed', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.integer({ min: 0, max: 200 }), (seed, length) => {
        expect(fingerprint(generateSequence(seed, length))).toBe(fingerprint(generateSequence(seed, length)));
      }),
      { numRuns: 50 },
    );
  });

  it('gives other steps for another seed', () => {
    const seen = new Set(Array.from({ length: 20 }, (_, seed) => fingerprint(generateSequence(seed, 30))));
    expect(seen.size).toBe(20);
  });

  it('a shorter sequence is the start of a longer one of the same seed', () => {
    expect(fingerprint(generateSequence(7, 150)).slice(0, -1)).toContain(fingerprint(generateSequence(7, 40)).slice(0, -1));
  });

  it('keeps every sequence and every step within its bounds', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.integer({ min: 0, max: 200 }), (seed, length) => {
        const steps = generateSequence(seed, length);
        expect(steps).toHaveLength(length);
        for (const step of steps) {
          const parsed = parseGroupingPath(step.path);
          expect(parsed.ok, step.path).toBe(true);
          if (step.method === 'DELETE') {
            expect(step.body).toBeUndefined();
            continue;
          }
          expect(step.body!.length).toBeLessThanOrEqual(SEQUENCE_BOUNDS.maxBodyBytes);
          if (isProtobufStep(step)) {
            expect(countFrames(step.body!)).toBeLessThanOrEqual(SEQUENCE_BOUNDS.maxFamilies);
          } else {
            expect(step.body!.toString('utf8').match(/^# TYPE /gm)?.length ?? 0).toBeLessThanOrEqual(SEQUENCE_BOUNDS.maxFamilies + 1);
          }
        }
      }),
      { numRuns: 50 },
    );
  });

  it('refuses a length outside its bounds', () => {
    expect(() => generateSequence(1, SEQUENCE_BOUNDS.maxSteps + 1)).toThrow(/0\.\.1000 steps/);
    expect(() => generateSequence(1, -1)).toThrow();
    expect(() => generateSequence(1, 1.5)).toThrow();
  });

  it('covers the pool the differential tests rely on within the seeds they run', () => {
    const steps = Array.from({ length: 20 }, (_, i) => generateSequence(i + 1, 150)).flat();
    const texts = steps.filter((s) => s.body !== undefined && !isProtobufStep(s)).map((s) => s.body!.toString('utf8'));
    const all = texts.join('\n');
    const count = (p: (s: PushStep) => boolean): number => steps.filter(p).length;
    for (const method of ['PUT', 'POST', 'DELETE'])
      expect(
        count((s) => s.method === method),
        method,
      ).toBeGreaterThan(300);
    expect(count((s) => s.contentType === PROTOBUF_TYPE)).toBeGreaterThan(150);
    expect(count((s) => isProtobufStep(s) && s.contentType !== PROTOBUF_TYPE)).toBeGreaterThan(20);
    for (const type of ['counter', 'gauge', 'untyped', 'summary', 'histogram']) expect(all).toContain(`# TYPE foo ${type}\n`);
    for (const name of ['foo_count', 'foo_sum', 'foo_bucket', 'bar', 'push_failure_time_seconds', 'go_goroutines', 'go_gc_duration_seconds_count']) {
      expect(all).toMatch(new RegExp(`^${name}[{ ]`, 'm'));
    }
    for (const help of ['h1', 'h2']) expect(all).toContain(` ${help}\n`);
    for (const label of ['instance="i1"', 'instance=""', 'a=""', 'zone="z1"', 'job="j1"', 'le="1",le=', 'quantile="0.5",quantile='])
      expect(all).toContain(label);
    expect(all).toMatch(/^# TYPE \w+ gauge_histogram$/m);
    for (const path of [
      '/instance@base64/=',
      '/instance@base64/aTE',
      '/zone/z1/instance/i1',
      '/instance/i1/zone/z1',
      '/metrics/job@base64/ajA',
      '/zone@base64/=',
    ]) {
      expect(
        count((s) => s.path.includes(path)),
        path,
      ).toBeGreaterThan(0);
    }
    expect(all).toMatch(/ 1700000000000\n/);
    expect(all).toMatch(/^(foo\{a="1" 1|# TYPE bar bogus|bar 1 x)$/m);
    expect(texts.some((t) => t.length > 0 && !t.endsWith('\n'))).toBe(true);
  });
});

describe('createRandom', () => {
  it('stays within [0, n) and is the same stream for the same seed', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.integer({ min: 1, max: 1000 }), (seed, n) => {
        const a = createRandom(seed);
        const b = createRandom(seed);
        for (let i = 0; i < 20; i++) {
          const x = a.below(n);
          expect(x).toBeGreaterThanOrEqual(0);
          expect(x).toBeLessThan(n);
          expect(b.below(n)).toBe(x);
        }
      }),
    );
  });

  it('picks by weight and never an item of weight 0', () => {
    const random = createRandom(3);
    const picks = Array.from({ length: 2000 }, () => random.weighted([[0, 'never'] as const, [1, 'a'] as const, [3, 'b'] as const]));
    expect(picks).not.toContain('never');
    const b = picks.filter((p) => p === 'b').length;
    expect(b).toBeGreaterThan(1300);
    expect(b).toBeLessThan(1700);
  });
});

describe('checkExposition', () => {
  it.each([
    ['', undefined],
    ['# HELP go_goroutines Number of goroutines that currently exist.\n# TYPE go_goroutines gauge\ngo_goroutines 8\n', undefined],
    ['# TYPE h histogram\nh_bucket{instance="",job="a",le="+Inf"} 3\nh_sum{instance="",job="a"} 2.5e-07\nh_count 3\n', undefined],
    ['x{a="q\\"uote,d",b="\\\\"} NaN\nx{a="1"} -Inf 1700000000000\n', undefined],
    ['# some comment ... anything\n', undefined],
  ])('accepts %j', (body, expected) => {
    expect(checkExposition(body)).toBe(expected);
  });

  it.each([
    ['# HELP foo h\n# TYPE foo', /ends mid-line/],
    ['# TYPE 0-foo gauge\n', /invalid name/],
    ['0-foo{instance=""} 1\n', /sample with an invalid name/],
    ['# TYPE foo gauge_histogram\n', /known type/],
    ['foo_bucket{job="a",le="1",le="+Inf"} 1\n', /label le twice/],
    ['foo{a-b="1"} 1\n', /label name/],
    ['foo 1 2 3\n', /valid value/],
    ['foo one\n', /valid value/],
  ])('refuses %j', (body, why) => {
    expect(checkExposition(body)).toMatch(why);
  });
});

describe('messageStartOf', () => {
  it.each([
    [
      'pushed metrics are invalid or inconsistent with existing metrics: collected metric "foo" ...\n',
      'pushed metrics are invalid or inconsistent with existing metrics: ',
    ],
    ['text format parsing error in line 3: unexpected end of input stream\n', 'text format parsing error in line 3'],
    ['unexpected EOF\n', 'unexpected EOF'],
  ])('%j starts with %j', (body, start) => {
    expect(messageStartOf(body)).toBe(start);
  });
});

describe('the consistency corpus', () => {
  it('has at least 40 named cases, each name once, each with a rule and steps', () => {
    expect(CONSISTENCY_CASES.length).toBeGreaterThanOrEqual(40);
    expect(new Set(CONSISTENCY_CASES.map((c) => c.name)).size).toBe(CONSISTENCY_CASES.length);
    for (const c of CONSISTENCY_CASES) {
      expect(c.rule, c.name).not.toBe('');
      expect(c.steps.length, c.name).toBeGreaterThan(0);
      for (const { step } of c.steps) expect(parseGroupingPath(step.path).ok, `${c.name}: ${step.path}`).toBe(true);
    }
  });

  it('records poison pushes of both kinds: refused yet stored, and accepted into a broken scrape', () => {
    for (const c of CONSISTENCY_CASES.filter((c) => c.name.startsWith('poison: '))) {
      expect(
        c.steps.some((s) => s.poisons === true),
        c.name,
      ).toBe(true);
    }
    const poisons = CONSISTENCY_CASES.flatMap((c) => c.steps.filter((s) => s.poisons === true));
    expect(poisons.filter((s) => s.expect === '4xx').length).toBeGreaterThanOrEqual(6);
    expect(poisons.filter((s) => s.expect === '2xx').length).toBeGreaterThanOrEqual(3);
  });
});
