/**
 * The text exposition format (0.0.4) as a Pushgateway 1.5.1 parses a push body: prometheus/common
 * expfmt's TextParser.TextToMetricFamilies (v0.37.0; unchanged in the v0.39.0 that Debian's
 * binary is built with), followed state for state, so that an accepted body gives the families
 * the Pushgateway builds and a refused one the Pushgateway's message, quirks included: a last line
 * needs its newline, a blank after the value asks for a timestamp, a TYPE line drops backslashes
 * and upper-cases the type as Go does (`ſummary` is a summary), a gauge_histogram's samples carry
 * no value, families with no samples are dropped.
 *
 * Why no npm package: parse-prometheus-text-format, the one parser in wide use, ports the Python
 * client's parser (another grammar, working on a decoded string) and has none of Go's messages,
 * which a Pushgateway returns as its 400 bodies. Nothing on npm follows expfmt.
 *
 * Hand-written byte scanning over the Buffer, no regular expressions: this runs on every push.
 */
import { decodeGoRune, decodeGoString, isValidUtf8, quoteGoBytes, quoteGoRune } from './go-strings.js';
import type { BodyLimit, BodyLimits, MetricType, ParsedBody, PushedFamily } from './push-body.js';
import { VALUE_OF_TYPE } from './push-body.js';

const TAB = 0x09;
const NL = 0x0a;
const SPACE = 0x20;
const QUOTE = 0x22;
const HASH = 0x23;
const COMMA = 0x2c;
const EQUALS = 0x3d;
const BACKSLASH = 0x5c;
const BRACE_OPEN = 0x7b;
const BRACE_CLOSE = 0x7d;

// The parser's states, as expfmt's stateFns.
const DONE = 0;
const START_OF_LINE = 1;
const START_COMMENT = 2;
const READING_METRIC_NAME = 3;
const READING_LABELS = 4;
const START_LABEL_NAME = 5;
const START_LABEL_VALUE = 6;
const READING_VALUE = 7;
const START_TIMESTAMP = 8;
const READING_HELP = 9;
const READING_TYPE = 10;

/** dto.MetricType_value, keyed by what Go's strings.ToUpper makes of a TYPE line. */
const TYPES_BY_NAME: ReadonlyMap<string, MetricType> = new Map<string, MetricType>([
  ['COUNTER', 'COUNTER'],
  ['GAUGE', 'GAUGE'],
  ['SUMMARY', 'SUMMARY'],
  ['UNTYPED', 'UNTYPED'],
  ['HISTOGRAM', 'HISTOGRAM'],
  ['GAUGE_HISTOGRAM', 'GAUGE_HISTOGRAM'],
]);

// Cannot occur in a decoded label value (valid UTF-8 decodes to no lone surrogate).
const SIGNATURE_SEPARATOR = '\ud800';

interface Family {
  readonly name: string;
  help: string | undefined;
  type: MetricType | undefined;
  readonly metrics: Metric[];
}

interface Metric {
  readonly labels: (readonly [string, string])[];
  values: number;
  hasTimestamp: boolean;
}

/**
 * Parses a text-format body. `streamError` is the message of the read error the body's bytes end
 * with when a gzip stream broke after them (src/http/inflate.ts): Go's parser meets it where it
 * would meet the end of the input, so it ends the body cleanly at the start of a line and is the
 * answer anywhere else.
 */
export function parseTextFormat(body: Buffer, limits: BodyLimits, streamError?: string): ParsedBody {
  return new TextParser(body, limits).parse(streamError);
}

class TextParser {
  private pos = 0;
  /** expfmt's currentByte: the byte last read; 0 once the input ended. */
  private cur = 0;
  /** The last read found the end of the input (expfmt's p.err from ReadByte). */
  private ended = false;
  /** The input ended where a line may end: the body is complete. */
  private complete = false;
  private failure: ParsedBody | undefined;
  private line = 0;

  // The current token is tok[tokStart, tokEnd): a slice of the body, or of `scratch` once an
  // escape sequence made it differ from the body's bytes.
  private tok: Buffer;
  private tokStart = 0;
  private tokEnd = 0;
  private scratch: Buffer = Buffer.allocUnsafe(256);

  private readonly families = new Map<string, Family>();
  private familyCount = 0;
  private seriesCount = 0;
  private family!: Family;
  private metric!: Metric;
  private labelName = '';
  /** Index in metric.labels of the pair whose value comes next; -1 for quantile and le. */
  private labelIndex = -1;
  /** A summary's or histogram's labels but quantile/le, for merging its lines into one metric. */
  private signatureLabels: [string, string][] = [];
  private readonly merged = new Map<string, Metric>();
  /** The label names last seen at each position of a label set. */
  private readonly recentLabelNames: string[] = [];

  constructor(
    private readonly buf: Buffer,
    private readonly limits: BodyLimits,
  ) {
    this.tok = buf;
  }

  parse(streamError: string | undefined): ParsedBody {
    let state = START_OF_LINE;
    while (state !== DONE) state = this.step(state);
    if (this.failure !== undefined) return this.failure;
    if (!this.complete) {
      return invalid(streamError ?? `text format parsing error in line ${this.line}: unexpected end of input stream`);
    }
    const families: PushedFamily[] = [];
    for (const family of this.families.values()) {
      if (family.metrics.length === 0) continue;
      families.push({ name: family.name, help: family.help ?? '', type: family.type ?? 'UNTYPED', metrics: family.metrics });
    }
    return { ok: true, families };
  }

  private step(state: number): number {
    switch (state) {
      case START_OF_LINE:
        return this.startOfLine();
      case START_COMMENT:
        return this.startComment();
      case READING_METRIC_NAME:
        return this.readingMetricName();
      case READING_LABELS:
        return this.readingLabels();
      case START_LABEL_NAME:
        return this.startLabelName();
      case START_LABEL_VALUE:
        return this.startLabelValue();
      case READING_VALUE:
        return this.readingValue();
      case START_TIMESTAMP:
        return this.startTimestamp();
      case READING_HELP:
        return this.readingHelp();
      case READING_TYPE:
        return this.readingType();
    }
    return DONE;
  }

  private startOfLine(): number {
    this.line++;
    if (this.skipBlankTab() < 0) {
      // The only place where the end of the input is no error.
      this.complete = true;
      return DONE;
    }
    if (this.cur === HASH) return START_COMMENT;
    if (this.cur === NL) return START_OF_LINE;
    return READING_METRIC_NAME;
  }

  private startComment(): number {
    if (this.skipBlankTab() < 0) return DONE;
    if (this.cur === NL) return START_OF_LINE;
    this.readTokenUntilWhitespace();
    if (this.ended) return DONE;
    if (this.cur === NL) return START_OF_LINE;
    const keyword = this.keyword();
    if (keyword === DONE) {
      // A plain comment: skip to the end of its line.
      while (this.cur !== NL) {
        if (!this.next()) return DONE;
      }
      return START_OF_LINE;
    }
    if (this.skipBlankTab() < 0) return DONE;
    this.readTokenAsMetricName();
    if (this.ended) return DONE;
    if (this.cur === NL) return START_OF_LINE;
    if (this.cur !== SPACE && this.cur !== TAB) return this.fail('invalid metric name in comment');
    if (!this.setOrCreateFamily()) return DONE;
    const c = this.skipBlankTab();
    if (c < 0) return DONE;
    return c === NL ? START_OF_LINE : keyword;
  }

  /** READING_HELP or READING_TYPE for a `HELP` or `TYPE` token, DONE for any other. */
  private keyword(): number {
    const t = this.tok;
    const s = this.tokStart;
    if (this.tokEnd - s !== 4) return DONE;
    if (t[s] === 0x48 && t[s + 1] === 0x45 && t[s + 2] === 0x4c && t[s + 3] === 0x50) return READING_HELP;
    if (t[s] === 0x54 && t[s + 1] === 0x59 && t[s + 2] === 0x50 && t[s + 3] === 0x45) return READING_TYPE;
    return DONE;
  }

  private readingMetricName(): number {
    this.readTokenAsMetricName();
    if (this.ended) return DONE;
    if (this.tokEnd === this.tokStart) return this.fail('invalid metric name');
    if (!this.setOrCreateFamily()) return DONE;
    if (this.family.type === undefined) this.family.type = 'UNTYPED';
    // Not in the family yet: a summary's or histogram's line may belong to a metric seen before.
    this.metric = { labels: [], values: 0, hasTimestamp: false };
    if ((this.cur === SPACE || this.cur === TAB) && this.skipBlankTab() < 0) return DONE;
    return READING_LABELS;
  }

  private readingLabels(): number {
    if (this.family.type === 'SUMMARY' || this.family.type === 'HISTOGRAM') this.signatureLabels = [];
    return this.cur === BRACE_OPEN ? START_LABEL_NAME : READING_VALUE;
  }

  private startLabelName(): number {
    if (this.skipBlankTab() < 0) return DONE;
    if (this.cur === BRACE_CLOSE) return this.skipBlankTab() < 0 ? DONE : READING_VALUE;
    this.readTokenAsLabelName();
    if (this.ended) return DONE;
    const family = this.family;
    if (this.tokEnd === this.tokStart) return this.fail(`invalid label name for metric ${quoteName(family.name)}`);
    if (this.tokEnd - this.tokStart > this.limits.maxStringBytes) return this.tooLarge('maxStringBytes');
    const labels = this.metric.labels;
    // Series of a family usually repeat their label names in order: reuse those strings.
    const position = labels.length;
    let name = this.recentLabelNames[position];
    if (name === undefined || !this.tokenIs(name)) {
      name = this.tok.toString('latin1', this.tokStart, this.tokEnd);
      this.recentLabelNames[position] = name;
    }
    this.labelName = name;
    if (name === '__name__') return this.fail('label name "__name__" is reserved');
    if ((family.type === 'SUMMARY' && name === 'quantile') || (family.type === 'HISTOGRAM' && name === 'le')) {
      this.labelIndex = -1;
    } else {
      if (labels.length >= this.limits.maxLabelsPerSeries) return this.tooLarge('maxLabelsPerSeries');
      this.labelIndex = labels.length;
      labels.push([name, '']);
    }
    if ((this.cur === SPACE || this.cur === TAB) && this.skipBlankTab() < 0) return DONE;
    if (this.cur !== EQUALS) return this.fail(`expected '=' after label name, found ${quoteGoRune(this.cur)}`);
    // Only the pair just added can repeat a name: the earlier ones were checked on their turn.
    if (this.labelIndex > 0) {
      for (let i = 0; i < this.labelIndex; i++) {
        if (labels[i]![0] === name) return this.fail(`duplicate label names for metric ${quoteName(family.name)}`);
      }
    }
    return START_LABEL_VALUE;
  }

  private startLabelValue(): number {
    if (this.skipBlankTab() < 0) return DONE;
    if (this.cur !== QUOTE) return this.fail(`expected '"' at start of label value, found ${quoteGoRune(this.cur)}`);
    if (!this.readTokenAsLabelValue()) return DONE;
    const t = this.tok;
    const s = this.tokStart;
    const e = this.tokEnd;
    let ascii = true;
    for (let i = s; i < e; i++) {
      if (t[i]! >= 0x80) {
        ascii = false;
        break;
      }
    }
    if (!ascii && !isValidUtf8(t, s, e)) return this.fail(`invalid label value ${quoteGoBytes(t, s, e)}`);
    if (e - s > this.limits.maxStringBytes) return this.tooLarge('maxStringBytes');
    const value = t.toString(ascii ? 'latin1' : 'utf8', s, e);
    const type = this.family.type;
    const name = this.labelName;
    if (type === 'SUMMARY' || type === 'HISTOGRAM') {
      const special = type === 'SUMMARY' ? 'quantile' : 'le';
      if (name === special) {
        if (!isGoFloat(t, s, e)) return this.fail(`expected float as value for '${special}' label, got ${quoteGoBytes(t, s, e)}`);
      } else {
        this.signatureLabels.push([name, value]);
      }
    }
    if (this.labelIndex >= 0) this.metric.labels[this.labelIndex] = [name, value];
    const c = this.skipBlankTab();
    if (c < 0) return DONE;
    if (c === COMMA) return START_LABEL_NAME;
    if (c === BRACE_CLOSE) return this.skipBlankTab() < 0 ? DONE : READING_VALUE;
    return this.fail(`unexpected end of label value ${quoteGoBytes(t, s, e)}`);
  }

  private readingValue(): number {
    const family = this.family;
    if (family.type === 'SUMMARY' || family.type === 'HISTOGRAM') {
      const signature = signatureOf(family.name, this.signatureLabels);
      const seen = this.merged.get(signature);
      if (seen !== undefined) {
        this.metric = seen;
      } else {
        this.merged.set(signature, this.metric);
        if (!this.addMetric()) return DONE;
      }
    } else if (!this.addMetric()) {
      return DONE;
    }
    this.readTokenUntilWhitespace();
    if (this.ended) return DONE;
    if (!isGoFloat(this.tok, this.tokStart, this.tokEnd)) return this.fail(`expected float as value, got ${this.quoteToken()}`);
    this.metric.values = VALUE_OF_TYPE[family.type!];
    return this.cur === NL ? START_OF_LINE : START_TIMESTAMP;
  }

  private startTimestamp(): number {
    if (this.skipBlankTab() < 0) return DONE;
    this.readTokenUntilWhitespace();
    if (this.ended) return DONE;
    if (!isGoInt64(this.tok, this.tokStart, this.tokEnd)) return this.fail(`expected integer as timestamp, got ${this.quoteToken()}`);
    this.metric.hasTimestamp = true;
    if (!this.readTokenUntilNewline(false)) return DONE;
    if (this.tokEnd > this.tokStart) return this.fail(`spurious string after timestamp: ${this.quoteToken()}`);
    return START_OF_LINE;
  }

  private readingHelp(): number {
    const family = this.family;
    if (family.help !== undefined) return this.fail(`second HELP line for metric name ${quoteName(family.name)}`);
    if (!this.readTokenUntilNewline(true)) return DONE;
    if (this.tokEnd - this.tokStart > this.limits.maxStringBytes) return this.tooLarge('maxStringBytes');
    family.help = decodeGoString(this.tok, this.tokStart, this.tokEnd);
    return START_OF_LINE;
  }

  private readingType(): number {
    const family = this.family;
    if (family.type !== undefined) {
      return this.fail(`second TYPE line for metric name ${quoteName(family.name)}, or TYPE reported after samples`);
    }
    if (!this.readTokenUntilNewline(false)) return DONE;
    const type = typeNamed(this.tok, this.tokStart, this.tokEnd);
    if (type === undefined) return this.fail(`unknown metric type ${this.quoteToken()}`);
    family.type = type;
    return START_OF_LINE;
  }

  /** expfmt's setOrCreateCurrentMF: a `_count`, `_sum` or `_bucket` line joins its summary or histogram. */
  private setOrCreateFamily(): boolean {
    if (this.tokEnd - this.tokStart > this.limits.maxStringBytes) {
      this.tooLarge('maxStringBytes');
      return false;
    }
    // Lines of one family usually follow each other: the current family is checked without a string.
    const current = this.families.size > 0 ? this.family : undefined;
    if (current !== undefined && this.tokenIs(current.name)) return true;
    const name = this.tok.toString('latin1', this.tokStart, this.tokEnd);
    const exact = this.families.get(name);
    if (exact !== undefined) {
      this.family = exact;
      return true;
    }
    const count = name.length > 6 && name.endsWith('_count');
    const sum = !count && name.length > 4 && name.endsWith('_sum');
    const bucket = !count && !sum && name.length > 7 && name.endsWith('_bucket');
    if (count || sum) {
      const base = this.families.get(name.slice(0, name.length - (count ? 6 : 4)));
      if (base !== undefined && base.type === 'SUMMARY') {
        this.family = base;
        return true;
      }
    }
    if (count || sum || bucket) {
      const base = this.families.get(name.slice(0, name.length - (count ? 6 : sum ? 4 : 7)));
      if (base !== undefined && base.type === 'HISTOGRAM') {
        this.family = base;
        return true;
      }
    }
    if (this.familyCount >= this.limits.maxFamilies) {
      this.tooLarge('maxFamilies');
      return false;
    }
    this.familyCount++;
    this.family = { name, help: undefined, type: undefined, metrics: [] };
    this.families.set(name, this.family);
    return true;
  }

  private addMetric(): boolean {
    if (this.seriesCount >= this.limits.maxSeries) {
      this.tooLarge('maxSeries');
      return false;
    }
    this.seriesCount++;
    this.family.metrics.push(this.metric);
    return true;
  }

  // --- reading, as expfmt's helpers over its bufio.Reader ---

  private next(): boolean {
    if (this.pos < this.buf.length) {
      this.cur = this.buf[this.pos++]!;
      return true;
    }
    this.cur = 0;
    this.ended = true;
    return false;
  }

  /** Reads past blanks and tabs: the first other byte, or -1 when the input ended. */
  private skipBlankTab(): number {
    while (this.next()) {
      if (this.cur !== SPACE && this.cur !== TAB) return this.cur;
    }
    return -1;
  }

  /** The token starts with the byte already read and ends before a blank, tab or newline. */
  private readTokenUntilWhitespace(): void {
    this.tok = this.buf;
    this.tokStart = this.pos - 1;
    while (this.cur !== SPACE && this.cur !== TAB && this.cur !== NL && this.next());
    this.tokEnd = this.ended ? this.pos : this.pos - 1;
  }

  private readTokenAsMetricName(): void {
    this.tok = this.buf;
    this.tokStart = this.pos - 1;
    if (isMetricNameStart(this.cur)) {
      while (this.next() && (isLabelNameContinuation(this.cur) || this.cur === 0x3a));
    }
    this.tokEnd = this.ended ? this.pos : this.pos - 1;
  }

  private readTokenAsLabelName(): void {
    this.tok = this.buf;
    this.tokStart = this.pos - 1;
    if (isLabelNameStart(this.cur)) {
      while (this.next() && isLabelNameContinuation(this.cur));
    }
    this.tokEnd = this.ended ? this.pos : this.pos - 1;
  }

  /** The quoted value after the opening quote already read; false on an error or the end of input. */
  private readTokenAsLabelValue(): boolean {
    this.tok = this.buf;
    this.tokStart = this.pos;
    let escaped = false;
    for (;;) {
      if (!this.next()) return false;
      const c = this.cur;
      if (escaped) {
        escaped = false;
        if (c === QUOTE || c === BACKSLASH) this.push(c);
        else if (c === 0x6e) this.push(NL);
        else return this.failed(`invalid escape sequence '\\${String.fromCharCode(c)}'`);
      } else if (c === QUOTE) {
        if (this.tok === this.buf) this.tokEnd = this.pos - 1;
        return true;
      } else if (c === NL) {
        if (this.tok === this.buf) this.tokEnd = this.pos - 1;
        return this.failed(`label value ${this.quoteToken()} contains unescaped new-line`);
      } else if (c === BACKSLASH) {
        escaped = true;
        if (this.tok === this.buf) this.toScratch(this.pos - 1);
      } else if (this.tok !== this.buf) {
        this.push(c);
      }
    }
  }

  /**
   * The rest of the line from the byte already read. Help text knows `\\` and `\n`; elsewhere
   * (TYPE lines, what follows a timestamp) expfmt drops every backslash. False on an error or
   * the end of input.
   */
  private readTokenUntilNewline(escapes: boolean): boolean {
    this.tok = this.buf;
    this.tokStart = this.pos - 1;
    let escaped = false;
    for (;;) {
      const c = this.cur;
      if (escapes && escaped) {
        escaped = false;
        if (c === BACKSLASH) this.push(BACKSLASH);
        else if (c === 0x6e) this.push(NL);
        else return this.failed(`invalid escape sequence '\\${String.fromCharCode(c)}'`);
      } else if (c === NL) {
        if (this.tok === this.buf) this.tokEnd = this.pos - 1;
        return true;
      } else if (c === BACKSLASH) {
        escaped = true;
        if (this.tok === this.buf) this.toScratch(this.pos - 1);
      } else if (this.tok !== this.buf) {
        this.push(c);
      }
      if (!this.next()) return false;
    }
  }

  /** Continues the current token in `scratch`, its body bytes copied up to `end`. */
  private toScratch(end: number): void {
    const length = end - this.tokStart;
    if (this.scratch.length < length + 16) this.scratch = Buffer.allocUnsafe(Math.max(2 * this.scratch.length, length + 16));
    this.buf.copy(this.scratch, 0, this.tokStart, end);
    this.tok = this.scratch;
    this.tokStart = 0;
    this.tokEnd = length;
  }

  private push(byte: number): void {
    if (this.tokEnd === this.scratch.length) {
      const grown = Buffer.allocUnsafe(2 * this.scratch.length);
      this.scratch.copy(grown, 0, 0, this.tokEnd);
      this.scratch = grown;
      this.tok = grown;
    }
    this.scratch[this.tokEnd++] = byte;
  }

  /** The current token holds exactly the ASCII string `s`. */
  private tokenIs(s: string): boolean {
    const t = this.tok;
    const start = this.tokStart;
    if (this.tokEnd - start !== s.length) return false;
    for (let i = 0; i < s.length; i++) {
      if (t[start + i] !== s.charCodeAt(i)) return false;
    }
    return true;
  }

  private quoteToken(): string {
    return quoteGoBytes(this.tok, this.tokStart, this.tokEnd);
  }

  private fail(message: string): number {
    this.failure = invalid(`text format parsing error in line ${this.line}: ${message}`);
    return DONE;
  }

  /** fail() for the readers, which answer whether they read their token. */
  private failed(message: string): false {
    this.fail(message);
    return false;
  }

  private tooLarge(limit: BodyLimit): number {
    this.failure = { ok: false, kind: 'too-large', limit, max: this.limits[limit] };
    return DONE;
  }
}

function invalid(message: string): ParsedBody {
  return { ok: false, kind: 'invalid', message };
}

/** %q of a metric name, which holds nothing %q escapes. */
function quoteName(name: string): string {
  return `"${name}"`;
}

function isLabelNameStart(b: number): boolean {
  return (b >= 0x61 && b <= 0x7a) || (b >= 0x41 && b <= 0x5a) || b === 0x5f;
}

function isLabelNameContinuation(b: number): boolean {
  return isLabelNameStart(b) || (b >= 0x30 && b <= 0x39);
}

function isMetricNameStart(b: number): boolean {
  return isLabelNameStart(b) || b === 0x3a;
}

/** expfmt's model.LabelsToSignature key for a summary's or histogram's line, without its hash collisions. */
function signatureOf(name: string, labels: [string, string][]): string {
  if (labels.length > 1) labels.sort((a, b) => (a[0] < b[0] ? -1 : 1));
  let key = name;
  for (const [labelName, value] of labels) key += SIGNATURE_SEPARATOR + labelName + SIGNATURE_SEPARATOR + value;
  return key;
}

/**
 * The type a TYPE line names: dto.MetricType_value[strings.ToUpper(token)]. Go's ToUpper maps
 * rune by rune, and two non-ASCII runes become ASCII letters: ı (U+0131) and ſ (U+017F).
 */
function typeNamed(bytes: Buffer, start: number, end: number): MetricType | undefined {
  if (end - start > 32) return undefined;
  let upper = '';
  for (let i = start; i < end;) {
    const b = bytes[i]!;
    if (b < 0x80) {
      upper += String.fromCharCode(b >= 0x61 && b <= 0x7a ? b - 0x20 : b);
      i++;
      continue;
    }
    const packed = decodeGoRune(bytes, i, end);
    const r = packed >>> 3;
    if (r === 0x131) upper += 'I';
    else if (r === 0x17f) upper += 'S';
    else return undefined;
    i += packed & 7;
  }
  return TYPES_BY_NAME.get(upper);
}

/**
 * expfmt's parseFloat: no `p`, `P` or `_`, then Go's strconv.ParseFloat(s, 64) without an error —
 * a decimal number that does not overflow, or Inf/Infinity (signed or not) or NaN in any case.
 * Hexadecimal floats need a `p` exponent, so none passes.
 */
export function isGoFloat(bytes: Buffer, start: number, end: number): boolean {
  if (start === end) return false;
  for (let i = start; i < end; i++) {
    const b = bytes[i]!;
    if (b === 0x70 || b === 0x50 || b === 0x5f) return false;
  }
  let i = start;
  const first = bytes[i]!;
  if (first === 0x2b || first === 0x2d) i++;
  const rest = end - i;
  const c = (bytes[i] ?? 0) | 0x20;
  if (c === 0x69 && (rest === 3 || rest === 8)) return equalsIgnoreCase(bytes, i, end, rest === 3 ? 'inf' : 'infinity');
  if (c === 0x6e && i === start && rest === 3) return equalsIgnoreCase(bytes, i, end, 'nan');
  let digits = false;
  let dot = false;
  for (; i < end; i++) {
    const b = bytes[i]!;
    if (b >= 0x30 && b <= 0x39) digits = true;
    else if (b === 0x2e && !dot) dot = true;
    else break;
  }
  if (!digits) return false;
  if (i === end) return end - start < 309 || Number.isFinite(Number(bytes.toString('latin1', start, end)));
  if ((bytes[i]! | 0x20) !== 0x65) return false;
  i++;
  if (i < end && (bytes[i] === 0x2b || bytes[i] === 0x2d)) i++;
  if (i === end) return false;
  for (; i < end; i++) {
    const b = bytes[i]!;
    if (b < 0x30 || b > 0x39) return false;
  }
  return Number.isFinite(Number(bytes.toString('latin1', start, end)));
}

function equalsIgnoreCase(bytes: Buffer, start: number, end: number, lower: string): boolean {
  for (let i = start; i < end; i++) {
    if ((bytes[i]! | 0x20) !== lower.charCodeAt(i - start)) return false;
  }
  return true;
}

/** Go's strconv.ParseInt(s, 10, 64) without an error: a signed decimal within int64. */
export function isGoInt64(bytes: Buffer, start: number, end: number): boolean {
  let i = start;
  const sign = bytes[i];
  if (sign === 0x2b || sign === 0x2d) i++;
  if (i === end) return false;
  for (let j = i; j < end; j++) {
    const b = bytes[j]!;
    if (b < 0x30 || b > 0x39) return false;
  }
  while (i < end - 1 && bytes[i] === 0x30) i++;
  const length = end - i;
  if (length !== 19) return length < 19;
  const max = sign === 0x2d ? '9223372036854775808' : '9223372036854775807';
  return bytes.toString('latin1', i, end) <= max;
}
