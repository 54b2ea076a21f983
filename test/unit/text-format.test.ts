import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { BodyLimits, MetricType, ParsedBody, PushedFamily } from '../../src/core/push-body.js';
import { VALUE_COUNTER, VALUE_GAUGE, VALUE_HISTOGRAM, VALUE_SUMMARY, VALUE_UNTYPED } from '../../src/core/push-body.js';
import { isGoFloat, isGoInt64, parseTextFormat } from '../../src/core/text-format.js';

const LIMITS: BodyLimits = { maxFamilies: 100, maxSeries: 1000, maxLabelsPerSeries: 32, maxStringBytes: 1024 };

function parse(text: string | Buffer, limits: BodyLimits = LIMITS, streamError?: string): ParsedBody {
  return parseTextFormat(typeof text === 'string' ? Buffer.from(text, 'utf8') : text, limits, streamError);
}

function families(text: string): PushedFamily[] {
  const parsed = parse(text);
  if (!parsed.ok) throw new Error(`${JSON.stringify(text)}: ${JSON.stringify(parsed)}`);
  return [...parsed.families];
}

function refusal(text: string | Buffer): string {
  const parsed = parse(text);
  if (parsed.ok || parsed.kind !== 'invalid') throw new Error(`${JSON.stringify(text)} was not refused: ${JSON.stringify(parsed)}`);
  return parsed.message;
}

const metric = (labels: [string, string][], values: number, hasTimestamp = false) => ({ labels, values, hasTimestamp });

describe('parseTextFormat accepts what expfmt accepts', () => {
  it.each<[string, string, PushedFamily[]]>([
    ['an untyped sample', 'x 1\n', [{ name: 'x', help: '', type: 'UNTYPED', metrics: [metric([], VALUE_UNTYPED)] }]],
    [
      'HELP, TYPE and labels',
      '# HELP x The x.\n# TYPE x counter\nx{a="1",b="2"} 3\n',
      [
        {
          name: 'x',
          help: 'The x.',
          type: 'COUNTER',
          metrics: [
            metric(
              [
                ['a', '1'],
                ['b', '2'],
              ],
              VALUE_COUNTER,
            ),
          ],
        },
      ],
    ],
    ['a gauge', '# TYPE g gauge\ng -1.5e3\n', [{ name: 'g', help: '', type: 'GAUGE', metrics: [metric([], VALUE_GAUGE)] }]],
    [
      'escapes in label values and help',
      '# HELP x a\\\\b\\nc\nx{a="q\\"\\\\\\n"} 1\n',
      [{ name: 'x', help: 'a\\b\nc', type: 'UNTYPED', metrics: [metric([['a', 'q"\\\n']], VALUE_UNTYPED)] }],
    ],
    [
      'NaN and infinities in any case',
      'a NaN\nb +Inf\nc -inf\nd Infinity\ne nAn\n',
      ['a', 'b', 'c', 'd', 'e'].map((name) => ({ name, help: '', type: 'UNTYPED', metrics: [metric([], VALUE_UNTYPED)] })),
    ],
    ['a timestamp', 'x 1 -1234\n', [{ name: 'x', help: '', type: 'UNTYPED', metrics: [metric([], VALUE_UNTYPED, true)] }]],
    [
      "a summary's quantile, _sum and _count lines as one metric",
      '# TYPE s summary\ns{a="1",quantile="0.5"} 1\ns{quantile="0.9",a="1"} 2\ns_sum{a="1"} 3\ns_count{a="1"} 4\ns{a="2",quantile="0.5"} 5\n',
      [{ name: 's', help: '', type: 'SUMMARY', metrics: [metric([['a', '1']], VALUE_SUMMARY), metric([['a', '2']], VALUE_SUMMARY)] }],
    ],
    [
      "a histogram's buckets, _sum and _count",
      '# TYPE h histogram\nh_bucket{le="0.1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 3\nh_count 2\n',
      [{ name: 'h', help: '', type: 'HISTOGRAM', metrics: [metric([], VALUE_HISTOGRAM)] }],
    ],
    [
      'le is a plain label of a summary, quantile of a histogram',
      '# TYPE s summary\ns{le="1",quantile="0.5"} 1\n# TYPE h histogram\nh_bucket{quantile="x",le="1"} 1\n',
      [
        { name: 's', help: '', type: 'SUMMARY', metrics: [metric([['le', '1']], VALUE_SUMMARY)] },
        { name: 'h', help: '', type: 'HISTOGRAM', metrics: [metric([['quantile', 'x']], VALUE_HISTOGRAM)] },
      ],
    ],
    [
      'a timestamp on any line of a summary marks its metric',
      '# TYPE s summary\ns_sum 1\ns_count 1 42\n',
      [{ name: 's', help: '', type: 'SUMMARY', metrics: [metric([], VALUE_SUMMARY, true)] }],
    ],
    [
      '_sum of a non-summary is a family of its own',
      '# TYPE x gauge\nx 1\nx_sum 2\n',
      [
        { name: 'x', help: '', type: 'GAUGE', metrics: [metric([], VALUE_GAUGE)] },
        { name: 'x_sum', help: '', type: 'UNTYPED', metrics: [metric([], VALUE_UNTYPED)] },
      ],
    ],
    [
      'families without samples are dropped',
      '# HELP a x\n# TYPE b gauge\nc 1\n',
      [{ name: 'c', help: '', type: 'UNTYPED', metrics: [metric([], VALUE_UNTYPED)] }],
    ],
    [
      "a gauge_histogram's samples carry no value",
      '# TYPE g gauge_histogram\ng{le="1"} 1\n',
      [{ name: 'g', help: '', type: 'GAUGE_HISTOGRAM', metrics: [metric([['le', '1']], 0)] }],
    ],
    ['Go upper-cases ſ to S and ı to I', '# TYPE s ſummary\ns 1\n', [{ name: 's', help: '', type: 'SUMMARY', metrics: [metric([], VALUE_SUMMARY)] }]],
    ['a TYPE line drops its backslashes', '# TYPE g gau\\ge\ng 1\n', [{ name: 'g', help: '', type: 'GAUGE', metrics: [metric([], VALUE_GAUGE)] }]],
    [
      'blanks and tabs around tokens, an empty label set, a trailing comma',
      ' \tx {} 1\ny{ a = "1" , } 2\t3\n',
      [
        { name: 'x', help: '', type: 'UNTYPED', metrics: [metric([], VALUE_UNTYPED)] },
        { name: 'y', help: '', type: 'UNTYPED', metrics: [metric([['a', '1']], VALUE_UNTYPED, true)] },
      ],
    ],
    [
      'comments, empty lines and bare keywords are ignored',
      '# just a comment\n\n#\n# HELP\n# TYPE x\n#HELP x h\nx 1\n',
      [{ name: 'x', help: 'h', type: 'UNTYPED', metrics: [metric([], VALUE_UNTYPED)] }],
    ],
    [
      'duplicate series stay two metrics (the check refuses them, not the parser)',
      'x{a="1"} 1\nx{a="1"} 2\n',
      [{ name: 'x', help: '', type: 'UNTYPED', metrics: [metric([['a', '1']], VALUE_UNTYPED), metric([['a', '1']], VALUE_UNTYPED)] }],
    ],
    ['an empty body', '', []],
    ['help may be any bytes', '# HELP x \xff\nx 1\n', [{ name: 'x', help: '\u00ff', type: 'UNTYPED', metrics: [metric([], VALUE_UNTYPED)] }]],
  ])('%s', (_name, text, expected) => {
    expect(families(text)).toEqual(expected);
  });

  it('keeps invalid UTF-8 of a help text byte for byte', () => {
    const parsed = parse(Buffer.concat([Buffer.from('# HELP x a'), Buffer.of(0xff), Buffer.from('\nx 1\n')]));
    expect(parsed.ok && parsed.families[0]?.help).toBe('a\udcff');
  });
});

describe('parseTextFormat refuses with expfmt messages', () => {
  it.each([
    ['x 1', 'text format parsing error in line 1: unexpected end of input stream'],
    ['x 1\n# comment', 'text format parsing error in line 2: unexpected end of input stream'],
    ['x{a="1"', 'text format parsing error in line 1: unexpected end of input stream'],
    ['{a="1"} 1\n', 'text format parsing error in line 1: invalid metric name'],
    ['1x 1\n', 'text format parsing error in line 1: invalid metric name'],
    ['x 1 \n', 'text format parsing error in line 1: expected integer as timestamp, got ""'],
    ['x 1 2 \n', 'text format parsing error in line 1: spurious string after timestamp: " "'],
    ['x 1 2 \\a\\b\n', 'text format parsing error in line 1: spurious string after timestamp: " ab"'],
    ['x\n', 'text format parsing error in line 1: expected float as value, got ""'],
    ['x 0x10\n', 'text format parsing error in line 1: expected float as value, got "0x10"'],
    ['x 1_0\n', 'text format parsing error in line 1: expected float as value, got "1_0"'],
    ['x 1p3\n', 'text format parsing error in line 1: expected float as value, got "1p3"'],
    ['x +nan\n', 'text format parsing error in line 1: expected float as value, got "+nan"'],
    ['x 1e400\n', 'text format parsing error in line 1: expected float as value, got "1e400"'],
    ['x 1 9223372036854775808\n', 'text format parsing error in line 1: expected integer as timestamp, got "9223372036854775808"'],
    ['x 1 1.5\n', 'text format parsing error in line 1: expected integer as timestamp, got "1.5"'],
    ['x{a="1" b="2"} 1\n', 'text format parsing error in line 1: unexpected end of label value "1"'],
    ['x{a="1"}}\n', 'text format parsing error in line 1: expected float as value, got "}"'],
    ['x{a b} 1\n', "text format parsing error in line 1: expected '=' after label name, found 'b'"],
    ['x{a=1} 1\n', `text format parsing error in line 1: expected '"' at start of label value, found '1'`],
    ['x{,} 1\n', 'text format parsing error in line 1: invalid label name for metric "x"'],
    ['x{__name__="y"} 1\n', 'text format parsing error in line 1: label name "__name__" is reserved'],
    ['x{a="1",a="2"} 1\n', 'text format parsing error in line 1: duplicate label names for metric "x"'],
    ['x{a="\\q"} 1\n', "text format parsing error in line 1: invalid escape sequence '\\q'"],
    ['x{a="b\nc"} 1\n', 'text format parsing error in line 1: label value "b" contains unescaped new-line'],
    ['# HELP x a\\tb\n', "text format parsing error in line 1: invalid escape sequence '\\t'"],
    ['# HELP x a\nx 1\n# HELP x b\n', 'text format parsing error in line 3: second HELP line for metric name "x"'],
    ['# TYPE x gauge\n# TYPE x gauge\n', 'text format parsing error in line 2: second TYPE line for metric name "x", or TYPE reported after samples'],
    ['x 1\n# TYPE x gauge\n', 'text format parsing error in line 2: second TYPE line for metric name "x", or TYPE reported after samples'],
    ['# TYPE s summary\n# TYPE s_sum gauge\n', 'text format parsing error in line 2: second TYPE line for metric name "s", or TYPE reported after samples'],
    ['# TYPE x counter \n', 'text format parsing error in line 1: unknown metric type "counter "'],
    ['# TYPE x hiﬆogram\n', 'text format parsing error in line 1: unknown metric type "hiﬆogram"'],
    ['# TYPE x{ gauge\n', 'text format parsing error in line 1: invalid metric name in comment'],
    ['# TYPE s summary\ns{quantile="a"} 1\n', 'text format parsing error in line 2: expected float as value for \'quantile\' label, got "a"'],
    ['# TYPE h histogram\nh_bucket{le=""} 1\n', 'text format parsing error in line 2: expected float as value for \'le\' label, got ""'],
    ['\n\nx{a="\\\\"} 1 2 3\n', 'text format parsing error in line 3: spurious string after timestamp: " 3"'],
  ])('%j', (text, message) => {
    expect(refusal(text)).toBe(message);
  });

  it.each([
    [Buffer.from('x{a="\xff\xfe"} 1\n', 'latin1'), 'text format parsing error in line 1: invalid label value "\\xff\\xfe"'],
    [
      Buffer.from('x \x01\x7f\u0085\ufeff\u{1fae0}😀\n', 'utf8'),
      'text format parsing error in line 1: expected float as value, got "\\x01\\x7f\\u0085\\ufeff\\U0001fae0😀"',
    ],
    [Buffer.from('x{a\xc3} 1\n', 'latin1'), "text format parsing error in line 1: expected '=' after label name, found 'Ã'"],
    [Buffer.from('x{a="\\\xc3"} 1\n', 'latin1'), "text format parsing error in line 1: invalid escape sequence '\\Ã'"],
  ])('bytes %#', (body, message) => {
    expect(refusal(body)).toBe(message);
  });
});

describe('a body cut short by a broken gzip stream', () => {
  it('ends cleanly where a line may end: Go treats any read error there as the end', () => {
    expect(parse('x 1\n', LIMITS, 'gzip: invalid checksum')).toEqual({ ok: true, families: families('x 1\n') });
  });

  it("is refused with the stream's own message anywhere else", () => {
    expect(parse('x 1\ny', LIMITS, 'unexpected EOF')).toEqual({ ok: false, kind: 'invalid', message: 'unexpected EOF' });
    expect(parse('x', LIMITS, 'flate: corrupt input before offset 5')).toEqual({ ok: false, kind: 'invalid', message: 'flate: corrupt input before offset 5' });
  });

  it('keeps a parse error found before the break', () => {
    expect(parse('x{ 1\ny', LIMITS, 'unexpected EOF')).toEqual({
      ok: false,
      kind: 'invalid',
      message: 'text format parsing error in line 1: invalid label name for metric "x"',
    });
  });
});

describe('body limits stop the parse where they are crossed', () => {
  const tight: BodyLimits = { maxFamilies: 2, maxSeries: 3, maxLabelsPerSeries: 2, maxStringBytes: 8 };
  it.each([
    ['a third family', 'a 1\nb 1\nc 1\n', 'maxFamilies'],
    ['a family only named by HELP counts', '# HELP a x\n# HELP b x\n# HELP c x\n', 'maxFamilies'],
    ['a fourth series', 'a 1\na{x="1"} 1\nb 1\nb{x="1"} 1\n', 'maxSeries'],
    ['a third label', 'a{x="1",y="2",z="3"} 1\n', 'maxLabelsPerSeries'],
    ['a long name', 'abcdefghi 1\n', 'maxStringBytes'],
    ['a long label name', 'a{abcdefghi="1"} 1\n', 'maxStringBytes'],
    ['a long label value', 'a{x="abcdefghi"} 1\n', 'maxStringBytes'],
    ['a long help', '# HELP a abcdefghi\n', 'maxStringBytes'],
  ])('%s', (_name, text, limit) => {
    expect(parse(text, tight)).toEqual({ ok: false, kind: 'too-large', limit, max: tight[limit as keyof BodyLimits] });
  });

  it("counts a summary's lines as one series and its quantile as no label", () => {
    const text = '# TYPE s summary\ns{x="1",y="2",quantile="0.5"} 1\ns_sum{x="1",y="2"} 1\ns_count{x="1",y="2"} 1\ns{x="2",quantile="0.5"} 1\n';
    expect(parse(text, tight).ok).toBe(true);
  });
});

describe('Go number syntax', () => {
  const b = (s: string) => [Buffer.from(s), 0, s.length] as const;
  it.each(['1', '-1', '+1', '1.', '.5', '1e5', '1E-5', '+.5e+3', '0', '007', 'inf', '-Inf', '+infinity', 'NaN', '1e-400', '1.7976931348623157e308'])(
    'float %s',
    (s) => {
      expect(isGoFloat(...b(s))).toBe(true);
    },
  );
  it.each(['', '.', '+', 'e5', '1e', '1e+', '1.2.3', '0x1', 'infin', 'infinityx', '+nan', '-nan', 'nan1', '1 ', '1,5', '1.8e308', '1_000', '١'])(
    'not a float: %j',
    (s) => {
      expect(isGoFloat(...b(s))).toBe(false);
    },
  );
  it.each(['0', '-0', '+12', '9223372036854775807', '-9223372036854775808', '00000000000000000000009'])('int64 %s', (s) => {
    expect(isGoInt64(...b(s))).toBe(true);
  });
  it.each(['', '-', '+', '1.0', '1e3', '9223372036854775808', '-9223372036854775809', '1_0', ' 1', '99999999999999999999'])('not an int64: %j', (s) => {
    expect(isGoInt64(...b(s))).toBe(false);
  });
});

// --- properties ---

const NAMES = ['a', 'b', 'up', 'x_total', 'job:rate5m', 'h'];
const LABEL_NAMES = ['a', 'b', 'le', 'quantile', 'path', '_x'];
const valueChar = fc.constantFrom('a', 'Z', '0', ' ', '"', '\\', '\n', 'é', '😀', '=', ',', '}', '#');
const valueString = fc.array(valueChar, { maxLength: 6 }).map((chars) => chars.join(''));
const TYPES = ['counter', 'gauge', 'untyped', 'summary', 'histogram'] as const;

interface Sample {
  labels: [string, string][];
  timestamp: boolean;
}
interface GeneratedFamily {
  name: string;
  help: string | undefined;
  type: (typeof TYPES)[number] | undefined;
  samples: Sample[];
}

const sampleArb = fc.record({
  labels: fc.uniqueArray(fc.tuple(fc.constantFrom(...LABEL_NAMES), valueString), { selector: ([name]) => name, maxLength: 3 }),
  timestamp: fc.boolean(),
});
const familyArb = fc.record({
  name: fc.constantFrom(...NAMES),
  help: fc.option(valueString, { nil: undefined }),
  type: fc.option(fc.constantFrom(...TYPES), { nil: undefined }),
  samples: fc.array(sampleArb, { maxLength: 4 }),
});
const bodyArb = fc.uniqueArray(familyArb, { selector: (f) => f.name, maxLength: 4 });

const escapeValue = (s: string) => s.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n');
const escapeHelp = (s: string) => s.replaceAll('\\', '\\\\').replaceAll('\n', '\\n');

/** A sample's own labels: a summary's quantile and a histogram's le are not labels. */
function ownLabels(family: GeneratedFamily, sample: Sample): [string, string][] {
  const special = family.type === 'summary' ? 'quantile' : family.type === 'histogram' ? 'le' : undefined;
  return sample.labels.filter(([name]) => name !== special);
}

function render(fams: GeneratedFamily[]): string {
  let out = '';
  for (const family of fams) {
    if (family.help !== undefined) out += `# HELP ${family.name} ${escapeHelp(family.help)}\n`;
    if (family.type !== undefined) out += `# TYPE ${family.name} ${family.type}\n`;
    for (const sample of family.samples) {
      const labels = ownLabels(family, sample).map(([n, v]) => `${n}="${escapeValue(v)}"`);
      if (family.type === 'summary') labels.push('quantile="0.5"');
      if (family.type === 'histogram') labels.push('le="+Inf"');
      const suffix = family.type === 'histogram' ? '_bucket' : '';
      out += `${family.name}${suffix}{${labels.join(',')}} 1${sample.timestamp ? ' 1700000000000' : ''}\n`;
    }
  }
  return out;
}

const BITS = { counter: VALUE_COUNTER, gauge: VALUE_GAUGE, untyped: VALUE_UNTYPED, summary: VALUE_SUMMARY, histogram: VALUE_HISTOGRAM };

function expected(fams: GeneratedFamily[]): PushedFamily[] {
  const out: PushedFamily[] = [];
  for (const family of fams) {
    if (family.samples.length === 0) continue;
    const type = family.type ?? 'untyped';
    const merged = type === 'summary' || type === 'histogram';
    const metrics: { labels: [string, string][]; values: number; hasTimestamp: boolean }[] = [];
    const byKey = new Map<string, (typeof metrics)[number]>();
    for (const sample of family.samples) {
      const labels = ownLabels(family, sample);
      const key = JSON.stringify([...labels].sort());
      const seen = merged ? byKey.get(key) : undefined;
      if (seen !== undefined) {
        seen.hasTimestamp ||= sample.timestamp;
        continue;
      }
      const m = { labels, values: BITS[type], hasTimestamp: sample.timestamp };
      byKey.set(key, m);
      metrics.push(m);
    }
    // Blanks after the name are skipped: they never start a help text.
    const help = (family.help ?? '').replace(/^ +/, '');
    out.push({ name: family.name, help, type: type.toUpperCase() as MetricType, metrics });
  }
  return out;
}

describe('parseTextFormat, properties', () => {
  it('parses a rendered body back into its families', () => {
    fc.assert(
      fc.property(bodyArb, (fams) => {
        expect(parse(render(fams))).toEqual({ ok: true, families: expected(fams) });
      }),
    );
  });

  it('refuses every cut of a body inside a line with the end-of-input error of that line', () => {
    fc.assert(
      fc.property(bodyArb, fc.nat(), (fams, at) => {
        const body = Buffer.from(render(fams), 'utf8');
        fc.pre(body.length > 0);
        const cut = at % body.length;
        const prefix = body.subarray(0, cut);
        const parsed = parse(prefix);
        if (cut === 0 || body[cut - 1] === 0x0a) {
          expect(parsed.ok).toBe(true);
        } else {
          const line = prefix.toString('latin1').split('\n').length;
          expect(parsed).toEqual({ ok: false, kind: 'invalid', message: `text format parsing error in line ${line}: unexpected end of input stream` });
        }
      }),
    );
  });

  it('never throws, whatever the bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (raw) => {
        const parsed = parse(Buffer.from(raw));
        expect(parsed.ok || parsed.kind === 'invalid' || parsed.kind === 'too-large').toBe(true);
      }),
    );
  });
});
