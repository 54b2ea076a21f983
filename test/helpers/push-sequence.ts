/**
 * Seeded sequences of pushes for the differential tests of the judge (issue 12): PUT, POST and
 * DELETE over a pool small enough that pushes conflict often — a few jobs and grouping-label sets
 * (spelled several ways), metric names chosen to collide through the suffixes a summary or a
 * histogram takes and with the Pushgateway's own families, every type, a few help strings and
 * body labels that the group's labels overwrite or that duplicate another group's series. Plus
 * the runner that sends a step to anything speaking the push API and reads a Pushgateway's state.
 *
 * The same seed gives the same steps, byte for byte, so a disagreement is reproduced from its
 * seed and step number alone.
 */
import { request } from 'undici';
import { makeGroupingKey, parseGroupingPath } from '../../src/core/grouping-key.js';
import { waitFor } from './processes.js';
import { encodeProtoFamilies, valueFieldOf, type ProtoFamily, type ProtoMetric, type ValueField } from './protobuf-families.js';
import { rawGroups, type RawGroup } from './pushgateway.js';
import { createRandom, type Random } from './random.js';

export type StepMethod = 'PUT' | 'POST' | 'DELETE';

export interface PushStep {
  readonly method: StepMethod;
  readonly path: string;
  readonly contentType?: string;
  /** Absent for DELETE. */
  readonly body?: Buffer;
  /** The body as a reader of a report needs it: the text itself, or the protobuf families. */
  readonly shown: string;
}

export const PROTOBUF_TYPE = 'application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited';
// Go's mime.ParseMediaType does not care for the order of parameters nor for case.
const PROTOBUF_TYPE_VARIANT = 'Application/vnd.google.protobuf; encoding=delimited; proto=io.prometheus.client.MetricFamily';
const TEXT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
const PROTOBUF_SHOWN = '[protobuf';

export function textStep(method: 'PUT' | 'POST', path: string, text: string, contentType?: string): PushStep {
  return { method, path, body: Buffer.from(text, 'utf8'), shown: text, ...(contentType === undefined ? {} : { contentType }) };
}

export function protoStep(
  method: 'PUT' | 'POST',
  path: string,
  families: readonly ProtoFamily[],
  opts: { truncate?: boolean; contentType?: string } = {},
): PushStep {
  const bytes = encodeProtoFamilies(families);
  const body = opts.truncate === true ? bytes.subarray(0, bytes.length - 1) : bytes;
  const shown = `${PROTOBUF_SHOWN}${opts.truncate === true ? ', last byte cut' : ''}] ${JSON.stringify(families)}`;
  return { method, path, contentType: opts.contentType ?? PROTOBUF_TYPE, body, shown };
}

export function isProtobufStep(step: PushStep): boolean {
  return step.shown.startsWith(PROTOBUF_SHOWN);
}

export function deleteStep(path: string): PushStep {
  return { method: 'DELETE', path, shown: '' };
}

export function describeStep(step: PushStep): string {
  const type = step.contentType === undefined || step.contentType === PROTOBUF_TYPE ? '' : ` (${step.contentType})`;
  return step.method === 'DELETE' ? `DELETE ${step.path}` : `${step.method} ${step.path}${type}\n${step.shown}`;
}

// ---------------------------------------------------------------------------------------------
// The generator.

export { createRandom, type Random };

export type SampleType = 'counter' | 'gauge' | 'untyped' | 'summary' | 'histogram';
export const SAMPLE_TYPES: readonly SampleType[] = ['counter', 'gauge', 'untyped', 'summary', 'histogram'];

/** The spellings of each job: the base64 one must name the same group. */
const JOBS: ReadonlyArray<readonly string[]> = [['/metrics/job/j0', '/metrics/job@base64/ajA'], ['/metrics/job/j1'], ['/metrics/job/j2'], ['/metrics/job/j3']];

/**
 * Grouping labels after the job, each set with its spellings (label order, base64). An explicit
 * empty `instance` names a group of its own whose series equal those of the group without it: the
 * first poison push. Kept rare, or every sequence would be a string of wipes.
 */
const LABEL_SETS: ReadonlyArray<readonly [number, readonly string[]]> = [
  [30, ['']],
  [22, ['/instance/i1', '/instance@base64/aTE']],
  [0.8, ['/instance@base64/=']],
  [14, ['/instance/i1/zone/z1', '/zone/z1/instance/i1']],
  [12, ['/zone/z1']],
  [10, ['/zone@base64/=']],
  [8, ['/zone@base64/YS9i']],
];

/**
 * foo and its suffixes collide both ways with a summary or histogram foo; bar collides with
 * nothing, so that groups accumulate; push_failure_time_seconds is the second poison push when
 * it arrives with another type; go_goroutines and go_gc_duration_seconds(_count) belong to the
 * Pushgateway itself; a pushed push_time_seconds is always replaced by the Pushgateway's own.
 */
const NAMES: ReadonlyArray<readonly [number, string]> = [
  [22, 'foo'],
  [9, 'foo_count'],
  [9, 'foo_sum'],
  [9, 'foo_bucket'],
  [26, 'bar'],
  [5, 'push_failure_time_seconds'],
  [9, 'go_goroutines'],
  [3, 'go_gc_duration_seconds_count'],
  [3, 'push_time_seconds'],
];

const HELPS: readonly (string | undefined)[] = [undefined, 'h1', 'h2'];

/** Labels of a body's sample: a grouping-label name (overwritten or kept), `instance`, empty values. */
const BODY_LABELS: ReadonlyArray<readonly [number, ReadonlyArray<readonly [string, string]>]> = [
  [38, []],
  [14, [['a', '1']]],
  [8, [['a', '2']]],
  [9, [['zone', 'z1']]],
  [13, [['instance', 'i1']]],
  [5, [['a', '']]],
  [5, [['instance', '']]],
  [4, [['job', 'j1']]],
  // Explicit on a summary (refused) or a histogram (accepted by 1.5.1, which breaks the scrape).
  [2, [['le', '1']]],
  [1, [['quantile', '0.5']]],
  [
    4,
    [
      ['b', 'x'],
      ['a', '1'],
    ],
  ],
];

export interface SampleSpec {
  readonly labels: ReadonlyArray<readonly [string, string]>;
  readonly value: number;
  readonly timestampMs?: number;
  /** Protobuf only: the value fields written instead of the family's own. */
  readonly fields?: readonly ValueField[];
}

export interface FamilySpec {
  readonly name: string;
  readonly type: SampleType;
  readonly help?: string;
  /** Text only: an untyped family may go without its TYPE line. */
  readonly typeLine: boolean;
  /**
   * A histogram sent as a gauge histogram: the 1.5.1 check lets it through and its scrape then
   * breaks (a text sample of it is even stored without a value).
   */
  readonly gaugeHistogram?: true;
  readonly samples: readonly SampleSpec[];
}

/** Every sequence and every body stays within these. */
export const SEQUENCE_BOUNDS = { maxSteps: 1000, maxFamilies: 3, maxSamples: 2, maxBodyBytes: 2048 } as const;

const TIMESTAMP_MS = 1_700_000_000_000;

function formatValue(value: number): string {
  return Number.isNaN(value) ? 'NaN' : String(value);
}

function formatLabels(labels: ReadonlyArray<readonly [string, string]>): string {
  if (labels.length === 0) return '';
  return '{' + labels.map(([n, v]) => `${n}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`).join(',') + '}';
}

/** One family in the text format, as client libraries write it. */
export function renderFamily(family: FamilySpec): string {
  const { name, type } = family;
  const lines: string[] = [];
  if (family.help !== undefined) lines.push(`# HELP ${name} ${family.help}`);
  if (family.gaugeHistogram === true) {
    lines.push(`# TYPE ${name} gauge_histogram`, ...family.samples.map((s) => `${name}${formatLabels(s.labels)} ${formatValue(s.value)}`));
    return lines.join('\n') + '\n';
  }
  if (family.typeLine || type !== 'untyped') lines.push(`# TYPE ${name} ${type}`);
  for (const sample of family.samples) {
    const ts = sample.timestampMs === undefined ? '' : ` ${sample.timestampMs}`;
    const v = formatValue(sample.value);
    const with_ = (extra: readonly [string, string]): string => formatLabels([...sample.labels, extra]);
    const plain = formatLabels(sample.labels);
    switch (type) {
      case 'counter':
      case 'gauge':
      case 'untyped':
        lines.push(`${name}${plain} ${v}${ts}`);
        break;
      case 'summary':
        lines.push(`${name}${with_(['quantile', '0.5'])} ${v}${ts}`, `${name}_sum${plain} ${v}`, `${name}_count${plain} 1`);
        break;
      case 'histogram':
        lines.push(
          `${name}_bucket${with_(['le', '1'])} 1${ts}`,
          `${name}_bucket${with_(['le', '+Inf'])} 1`,
          `${name}_sum${plain} ${v}`,
          `${name}_count${plain} 1`,
        );
        break;
    }
  }
  return lines.join('\n') + '\n';
}

export function toProtoFamily(family: FamilySpec): ProtoFamily {
  const type = family.gaugeHistogram === true ? 'GAUGE_HISTOGRAM' : (family.type.toUpperCase() as Uppercase<SampleType>);
  const metrics = family.samples.map((s): ProtoMetric => ({
    labels: s.labels,
    fields: s.fields ?? [valueFieldOf(type)],
    value: s.value,
    ...(s.timestampMs === undefined ? {} : { timestampMs: s.timestampMs }),
  }));
  return { name: family.name, type, metrics, ...(family.help === undefined ? {} : { help: family.help }) };
}

/** Lines that break the text format each in its own way (the Pushgateway answers 400 with the parser's message). */
const BROKEN_LINES: readonly string[] = ['foo{a="1" 1', '# TYPE bar bogus', 'bar 1 x', 'bar{a="\\q"} 1', 'bar{__name__="x"} 1', '0bar 1'];

/**
 * Each name has a usual type for the length of a sequence, so that groups accumulate; the other
 * types still come often enough to conflict with them.
 */
type UsualTypes = ReadonlyMap<string, SampleType>;

function generateFamily(random: Random, usual: UsualTypes, name: string, protobuf: boolean): FamilySpec {
  const type = random.chance(0.7) ? (usual.get(name) ?? 'gauge') : random.pick(SAMPLE_TYPES);
  const help = random.pick(HELPS);
  const count = random.chance(0.25) ? 2 : 1;
  const samples: SampleSpec[] = [];
  for (let i = 0; i < count; i++) {
    const labels = random.weighted(BODY_LABELS);
    const value = random.chance(0.05) ? NaN : random.below(10);
    let fields: ValueField[] | undefined;
    // Only protobuf can carry a value field that is not its family's, or none at all.
    if (protobuf && random.chance(0.06)) fields = random.chance(0.3) ? [] : [random.pick<ValueField>(['gauge', 'counter', 'untyped', 'summary', 'histogram'])];
    samples.push({
      labels,
      value,
      ...(random.chance(0.01) ? { timestampMs: TIMESTAMP_MS } : {}),
      ...(fields === undefined ? {} : { fields }),
    });
  }
  return {
    name,
    type,
    typeLine: random.chance(0.5),
    samples,
    ...(help === undefined ? {} : { help }),
    ...(type === 'histogram' && random.chance(0.03) ? { gaugeHistogram: true as const } : {}),
  };
}

function generatePath(random: Random): string {
  const job = random.pick(random.pick(JOBS));
  const labels = random.pick(random.weighted(LABEL_SETS));
  return job + labels;
}

function generateStep(random: Random, usual: UsualTypes): PushStep {
  const method = random.weighted<StepMethod>([
    [40, 'PUT'],
    [40, 'POST'],
    [20, 'DELETE'],
  ]);
  const path = generatePath(random);
  if (method === 'DELETE') return deleteStep(path);
  const protobuf = random.chance(0.2);
  const familyCount = random.chance(0.04)
    ? 0
    : random.weighted([
        [50, 1],
        [35, 2],
        [15, 3],
      ]);
  const families: FamilySpec[] = [];
  for (let i = 0; i < familyCount; i++) {
    // Text repeats a name only by mistake (a parse error); protobuf does it on purpose: the later family wins.
    let name = random.weighted(NAMES);
    while (!protobuf && families.some((f) => f.name === name)) name = random.weighted(NAMES);
    families.push(generateFamily(random, usual, name, protobuf));
  }
  if (protobuf) {
    return protoStep(method, path, families.map(toProtoFamily), {
      truncate: families.length > 0 && random.chance(0.03),
      contentType: random.chance(0.2) ? PROTOBUF_TYPE_VARIANT : PROTOBUF_TYPE,
    });
  }
  const lines = families.map(renderFamily);
  if (random.chance(0.03)) lines.splice(random.below(lines.length + 1), 0, random.pick(BROKEN_LINES) + '\n');
  let text = lines.join('');
  // A last line without its newline is "unexpected end of input stream" to the Pushgateway.
  if (text.length > 0 && random.chance(0.02)) text = text.slice(0, -1);
  const contentType = random.weighted<string | undefined>([
    [70, undefined],
    [25, TEXT_TYPE],
    [5, 'application/json'],
  ]);
  return textStep(method, path, text, contentType);
}

/** `length` steps from `seed`: the same seed, the same steps. */
export function generateSequence(seed: number, length: number): PushStep[] {
  if (!Number.isInteger(length) || length < 0 || length > SEQUENCE_BOUNDS.maxSteps) {
    throw new Error(`a sequence has 0..${SEQUENCE_BOUNDS.maxSteps} steps, not ${length}`);
  }
  const random = createRandom(seed);
  const usual = new Map(NAMES.map(([, name]) => [name, random.pick(SAMPLE_TYPES)]));
  const steps: PushStep[] = [];
  for (let i = 0; i < length; i++) steps.push(generateStep(random, usual));
  return steps;
}

// ---------------------------------------------------------------------------------------------
// The runner.

export interface Answer {
  readonly status: number;
  readonly body: string;
}

export type StatusClass = '2xx' | '3xx' | '4xx' | '5xx';

export function statusClassOf(status: number): StatusClass {
  if (status >= 200 && status < 300) return '2xx';
  if (status >= 300 && status < 400) return '3xx';
  if (status >= 400 && status < 500) return '4xx';
  return '5xx';
}

/** What a checked Pushgateway's 400 for a refused push starts with. */
export const INCONSISTENT_PREFIX = 'pushed metrics are invalid or inconsistent with existing metrics: ';

/**
 * The part of a 400 body that must match between a Pushgateway and pushring: the check's prefix,
 * or a parse error up to its first colon (the parser's message after it may be Go's alone).
 */
export function messageStartOf(body: string): string {
  if (body.startsWith(INCONSISTENT_PREFIX)) return INCONSISTENT_PREFIX;
  const colon = body.indexOf(':');
  return colon === -1 ? body.trim() : body.slice(0, colon);
}

export async function sendStep(base: string, step: PushStep): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (step.contentType !== undefined) headers['content-type'] = step.contentType;
  const res = await request(base + step.path, { method: step.method, headers, body: step.body ?? null });
  return { status: res.statusCode, body: await res.body.text() };
}

/** The canonical key of the group a step writes to (every generated path parses). */
export function groupOf(step: PushStep): string {
  const parsed = parseGroupingPath(step.path);
  if (!parsed.ok) throw new Error(`${step.path} is not a push path: ${JSON.stringify(parsed)}`);
  return parsed.key.canonical;
}

/** The canonical keys of the groups a Pushgateway holds, sorted. */
export function groupKeysOf(groups: readonly RawGroup[]): string[] {
  return groups
    .map((g) => {
      const labels = g['labels'];
      if (typeof labels !== 'object' || labels === null || Array.isArray(labels)) throw new Error(`a group without labels: ${JSON.stringify(g)}`);
      return makeGroupingKey(new Map(Object.entries(labels as Record<string, string>))).canonical;
    })
    .sort();
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'summary', 'untyped', 'histogram']);
const FLOAT = /^(?:[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?|Inf)|NaN)$/;

/** The first of a sample line's label pairs that is malformed or repeated, or undefined. */
function checkLabels(labels: string): string | undefined {
  const seen = new Set<string>();
  let i = 0;
  while (i < labels.length) {
    const eq = labels.indexOf('=', i);
    if (eq === -1 || labels[eq + 1] !== '"') return `a label without a quoted value in {${labels}}`;
    const name = labels.slice(i, eq).trim();
    if (!LABEL_NAME.test(name)) return `the label name ${JSON.stringify(name)}`;
    if (seen.has(name)) return `the label ${name} twice`;
    seen.add(name);
    let j = eq + 2;
    while (j < labels.length && labels[j] !== '"') j += labels[j] === '\\' ? 2 : 1;
    if (j >= labels.length) return `an unterminated label value in {${labels}}`;
    i = j + 1;
    if (labels[i] === ',') i++;
  }
  return undefined;
}

/**
 * What is wrong with a text exposition that Prometheus could not ingest whole, or undefined.
 * A Pushgateway answers 200 to GET /metrics and still sends such a body: it stops mid-family
 * when it cannot encode one (a gauge histogram), and it never checks metric names (protobuf
 * pushes can carry any). Not a full parser: the faults a push can cause.
 */
export function checkExposition(body: string): string | undefined {
  if (body.length > 0 && !body.endsWith('\n')) return `the exposition ends mid-line: ${JSON.stringify(body.slice(-80))}`;
  for (const line of body.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('#')) {
      const [, keyword, name, rest] = /^#\s+(\S+)\s*(\S*)\s*(.*)$/.exec(line) ?? [];
      if (keyword !== 'HELP' && keyword !== 'TYPE') continue;
      if (name === undefined || !METRIC_NAME.test(name)) return `a ${keyword} line with an invalid name: ${line}`;
      if (keyword === 'TYPE' && !TYPES.has(rest ?? '')) return `a TYPE line without a known type: ${line}`;
      continue;
    }
    const brace = line.indexOf('{');
    const end = brace === -1 ? line.indexOf(' ') : line.lastIndexOf('}');
    const name = line.slice(0, brace === -1 ? end : brace);
    if (!METRIC_NAME.test(name)) return `a sample with an invalid name: ${line}`;
    if (brace !== -1) {
      const wrong = checkLabels(line.slice(brace + 1, end));
      if (wrong !== undefined) return `${wrong}: ${line}`;
    }
    const [value, timestamp, extra] = line
      .slice(end + 1)
      .trim()
      .split(/\s+/);
    if (value === undefined || !FLOAT.test(value) || extra !== undefined || (timestamp !== undefined && !/^-?\d+$/.test(timestamp))) {
      return `a sample without a valid value: ${line}`;
    }
  }
  return undefined;
}

/**
 * A Pushgateway's scrape as Prometheus would see it: undefined while it is a whole exposition,
 * else why not (a 500 once its groups are inconsistent: a poisoned Pushgateway).
 */
export async function checkScrape(base: string): Promise<string | undefined> {
  const res = await request(`${base}/metrics`);
  const body = await res.body.text();
  if (res.statusCode !== 200) return `GET ${base}/metrics answered ${res.statusCode}: ${body.slice(0, 300)}`;
  const wrong = checkExposition(body);
  return wrong === undefined ? undefined : `GET ${base}/metrics answered 200 with a broken exposition: ${wrong}`;
}

/**
 * The first of `times` scrapes that is broken, or undefined. Where two groups hold one name, Go's
 * map order decides whose type the merged family takes, anew on every scrape: a store the check
 * let through (a gauge histogram beside a histogram) may break one scrape in two. A refusal the
 * reference did not make is only a disagreement once this has found nothing.
 */
export async function probeScrape(base: string, times: number): Promise<string | undefined> {
  for (let i = 0; i < times; i++) {
    const wrong = await checkScrape(base);
    if (wrong !== undefined) return `${wrong} (scrape ${i + 1} of ${times})`;
  }
  return undefined;
}

/**
 * One step against a checked Pushgateway, then what it left: a checked push is applied when it is
 * answered, a DELETE only queued, so wait for it to take effect before the next read.
 */
export async function applyToReference(base: string, step: PushStep): Promise<{ answer: Answer; poisoned: string | undefined }> {
  const answer = await sendStep(base, step);
  if (step.method === 'DELETE' && statusClassOf(answer.status) === '2xx') {
    const group = groupOf(step);
    await waitFor(async (signal) => !groupKeysOf(await rawGroups(base, signal)).includes(group), {
      what: `the reference ${base} to apply ${describeStep(step)}`,
    });
  }
  return { answer, poisoned: await checkScrape(base) };
}

// ---------------------------------------------------------------------------------------------
// Reporting.

/** One step on which the system under test and the reference did not agree. */
export interface Disagreement {
  /** `corpus: <case>` or `seed <n>`. */
  readonly where: string;
  readonly step: number;
  readonly request: string;
  readonly reference: string;
  readonly subject: string;
  /** What differed. */
  readonly what: string;
  /** The steps since the last reset, oldest first (the state the step met). */
  readonly before: readonly string[];
}

/** Steps kept as context of a disagreement: enough to reproduce most, and the seed has the rest. */
const CONTEXT_STEPS = 12;

/** The steps a sequence has run since its last reset, for a report. */
export class StepHistory {
  private steps: string[] = [];
  record(step: PushStep, answer: string): void {
    this.steps.push(`${describeStep(step)}\n  -> ${answer}`);
    if (this.steps.length > CONTEXT_STEPS) this.steps.shift();
  }
  reset(): void {
    this.steps = [];
  }
  list(): readonly string[] {
    return [...this.steps];
  }
}

export function formatAnswer(answer: Answer): string {
  return answer.body === '' ? String(answer.status) : `${answer.status} ${answer.body.trimEnd()}`;
}

export function formatDisagreements(list: readonly Disagreement[]): string {
  return list
    .map((d) =>
      [
        `${d.where}, step ${d.step}: ${d.what}`,
        `request: ${d.request}`,
        `reference: ${d.reference}`,
        `subject: ${d.subject}`,
        ...(d.before.length === 0 ? [] : ['after:', ...d.before.map((s) => '  ' + s.replace(/\n/g, '\n  '))]),
      ].join('\n'),
    )
    .join('\n\n');
}

/**
 * The judge refuses a GAUGE_HISTOGRAM a checked 1.5.1 accepts: beside histograms of the same name,
 * the reference's scrape breaks only in the map orders that put it first, which many scrapes may
 * not meet. Such a refusal counts as refusing a poison push whether or not a probe saw it break.
 */
export const ORDER_DEPENDENT_BREAK = /is a GAUGE_HISTOGRAM, which this Pushgateway cannot expose/;
