/**
 * The delimited protobuf format (io.prometheus.client.MetricFamily, proto2) as a Pushgateway 1.5.1
 * reads a push body: matttproud/golang_protobuf_extensions' pbutil.ReadDelimited frame by frame
 * into a map by family name (a later family replaces an earlier one of the same name), each
 * frame decoded by the proto.Unmarshal its Debian build links — golang/protobuf 1.3.5's table
 * decoder, as its messages show ("proto: can't skip unknown wire type 7"), not the v1.5 wrapper of
 * google.golang.org/protobuf that upstream's go.mod names.
 *
 * What that decoder does, and so what this does: every nested message is decoded (and its errors
 * are the push's); a field whose wire type does not match its declaration is an unknown field, and
 * unknown fields are skipped by their wire type; strings are not checked for UTF-8 (proto2) and
 * enums not for known values; a repeated number takes both its packed and its plain encoding.
 * Frames: a varint length (five bytes at most, else "invalid varint32 encountered"), then exactly
 * that many bytes. The end of the input between frames, or within a length prefix, or right after
 * a length prefix, ends the body cleanly; within a frame it is "unexpected EOF".
 *
 * Go allocates what a length prefix claims before reading: 17 GiB for a 9-byte frame, and a
 * Pushgateway dies of it. Nothing is allocated here, and a claim beyond the bytes present is
 * "unexpected EOF" even right after the prefix when it claims more than the whole body (where the
 * Pushgateway would end cleanly, had it the memory): such a body must never reach a backend.
 */
import { decodeGoString } from './go-strings.js';
import type { BodyLimit, BodyLimits, MetricType, ParsedBody, PushedFamily, PushedMetric } from './push-body.js';
import { VALUE_COUNTER, VALUE_GAUGE, VALUE_HISTOGRAM, VALUE_SUMMARY, VALUE_UNTYPED } from './push-body.js';

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_BYTES = 2;
const WIRE_START_GROUP = 3;
const WIRE_END_GROUP = 4;
const WIRE_FIXED32 = 5;

const UNEXPECTED_EOF = 'unexpected EOF';

/** dto.MetricType's names by number. */
const TYPE_NAMES: readonly MetricType[] = ['COUNTER', 'GAUGE', 'SUMMARY', 'UNTYPED', 'HISTOGRAM', 'GAUGE_HISTOGRAM'];

// How a declared field is decoded: by its one wire type, or, for a repeated number, packed too.
const VARINT = 1;
const FIXED64 = 2;
const BYTES = 3;
const PACKED_VARINT = 4;
const PACKED_FIXED64 = 5;

/** A message the model keeps nothing of, but whose errors are the push's. */
interface Schema {
  /** The Go type, as golang/protobuf names it in "illegal tag 0" errors. */
  readonly goName: string;
  readonly fields: ReadonlyArray<number | Schema | undefined>;
}

function schema(goName: string, fields: Record<number, number | Schema>): Schema {
  const list: (number | Schema | undefined)[] = [];
  for (const [number, kind] of Object.entries(fields)) list[Number(number)] = kind;
  return { goName, fields: list };
}

const TIMESTAMP = schema('timestamp.Timestamp', { 1: VARINT, 2: VARINT });
const LABEL_PAIR = schema('io_prometheus_client.LabelPair', { 1: BYTES, 2: BYTES });
const EXEMPLAR = schema('io_prometheus_client.Exemplar', { 1: LABEL_PAIR, 2: FIXED64, 3: TIMESTAMP });
const GAUGE = schema('io_prometheus_client.Gauge', { 1: FIXED64 });
const COUNTER = schema('io_prometheus_client.Counter', { 1: FIXED64, 2: EXEMPLAR });
const QUANTILE = schema('io_prometheus_client.Quantile', { 1: FIXED64, 2: FIXED64 });
const SUMMARY = schema('io_prometheus_client.Summary', { 1: VARINT, 2: FIXED64, 3: QUANTILE });
const UNTYPED = schema('io_prometheus_client.Untyped', { 1: FIXED64 });
const BUCKET = schema('io_prometheus_client.Bucket', { 1: VARINT, 2: FIXED64, 3: EXEMPLAR, 4: FIXED64 });
const BUCKET_SPAN = schema('io_prometheus_client.BucketSpan', { 1: VARINT, 2: VARINT });
const HISTOGRAM = schema('io_prometheus_client.Histogram', {
  1: VARINT,
  2: FIXED64,
  3: BUCKET,
  4: FIXED64,
  5: VARINT,
  6: FIXED64,
  7: VARINT,
  8: FIXED64,
  9: BUCKET_SPAN,
  10: PACKED_VARINT,
  11: PACKED_FIXED64,
  12: BUCKET_SPAN,
  13: PACKED_VARINT,
  14: PACKED_FIXED64,
});

/** dto.Metric's value fields: their number, the bit they set in PushedMetric.values, their schema. */
const VALUE_FIELDS: ReadonlyArray<readonly [bit: number, schema: Schema] | undefined> = [
  undefined,
  undefined,
  [VALUE_GAUGE, GAUGE],
  [VALUE_COUNTER, COUNTER],
  [VALUE_SUMMARY, SUMMARY],
  [VALUE_UNTYPED, UNTYPED],
  undefined,
  [VALUE_HISTOGRAM, HISTOGRAM],
];

/**
 * Parses a delimited-protobuf body. `streamError` is the message of the read error the body's
 * bytes end with when a gzip stream broke after them (src/http/inflate.ts): ReadDelimited meets it
 * where it would meet the end of the input, and only io.EOF ends a body cleanly.
 */
export function parseProtobufFormat(body: Buffer, limits: BodyLimits, streamError?: string): ParsedBody {
  return new ProtobufReader(body, limits).read(streamError);
}

class ProtobufReader {
  private pos = 0;
  private failure: ParsedBody | undefined;
  private readonly families = new Map<string, PushedFamily>();
  /** Metrics of the families in the map, and of the frame being read. */
  private series = 0;
  /** The wire type of the last key read. */
  private wire = 0;
  /** The low 32 bits of the last varint read, as Go's int32() conversion gives them. */
  private low32 = 0;
  private lastVarintStart = 0;
  private readonly recentLabelNames: string[] = [];

  constructor(
    private readonly buf: Buffer,
    private readonly limits: BodyLimits,
  ) {}

  read(streamError: string | undefined): ParsedBody {
    const buf = this.buf;
    const end = buf.length;
    const ended = (): ParsedBody => (streamError === undefined ? { ok: true, families: [...this.families.values()] } : invalid(streamError));
    for (;;) {
      if (this.pos === end) return ended();
      // pbutil reads the prefix byte by byte, and the end of the input within it is io.EOF.
      let length = 0;
      let scale = 1;
      for (let n = 0; ; n++) {
        if (n === 5) return invalid('invalid varint32 encountered');
        if (this.pos === end) return ended();
        const b = buf[this.pos++]!;
        length += (b & 0x7f) * scale;
        scale *= 128;
        if (b < 0x80) break;
      }
      const remaining = end - this.pos;
      if (length > remaining) {
        // io.ReadFull reading nothing is io.EOF, a clean end; but never for a claim past the body.
        if (remaining === 0 && length <= end) return ended();
        return invalid(streamError ?? UNEXPECTED_EOF);
      }
      const frameEnd = this.pos + length;
      const family = this.readFamily(frameEnd);
      if (family === undefined) return this.failure!;
      const replaced = this.families.get(family.name);
      if (replaced !== undefined) {
        this.series -= replaced.metrics.length;
      } else if (this.families.size >= this.limits.maxFamilies) {
        return tooLarge('maxFamilies', this.limits);
      }
      this.families.set(family.name, family);
    }
  }

  private readFamily(end: number): PushedFamily | undefined {
    let name = '';
    let help = '';
    let typeNumber = 0;
    const metrics: PushedMetric[] = [];
    while (this.pos < end) {
      const tag = this.key(end, 'io_prometheus_client.MetricFamily');
      if (tag < 0) return undefined;
      const wire = this.wire;
      if ((tag === 1 || tag === 2) && wire === WIRE_BYTES) {
        const s = this.string(end);
        if (s === undefined) return undefined;
        if (tag === 1) name = s;
        else help = s;
      } else if (tag === 3 && wire === WIRE_VARINT) {
        if (this.varint(end) < 0) return this.missing();
        typeNumber = this.low32;
      } else if (tag === 4 && wire === WIRE_BYTES) {
        const metricEnd = this.nested(end);
        if (metricEnd < 0) return undefined;
        // Counts the family this frame may replace too: the frame's name may come last.
        if (this.series >= this.limits.maxSeries) return this.tooLarge('maxSeries');
        const metric = this.readMetric(metricEnd);
        if (metric === undefined) return undefined;
        this.series++;
        metrics.push(metric);
      } else if (!this.skip(wire, end)) {
        return undefined;
      }
    }
    const type = TYPE_NAMES[typeNumber];
    if (type !== undefined) return { name, help, type, metrics };
    return { name, help, type: 'UNTYPED', unknownType: typeNumber, metrics };
  }

  private readMetric(end: number): PushedMetric | undefined {
    const labels: (readonly [string, string])[] = [];
    let values = 0;
    let hasTimestamp = false;
    while (this.pos < end) {
      const tag = this.key(end, 'io_prometheus_client.Metric');
      if (tag < 0) return undefined;
      const wire = this.wire;
      const value = tag < VALUE_FIELDS.length ? VALUE_FIELDS[tag] : undefined;
      if (tag === 1 && wire === WIRE_BYTES) {
        const pairEnd = this.nested(end);
        if (pairEnd < 0) return undefined;
        if (labels.length >= this.limits.maxLabelsPerSeries) return this.tooLarge('maxLabelsPerSeries');
        const pair = this.readLabelPair(pairEnd, labels.length);
        if (pair === undefined) return undefined;
        labels.push(pair);
      } else if (value !== undefined && wire === WIRE_BYTES) {
        const valueEnd = this.nested(end);
        if (valueEnd < 0 || !this.walk(value[1], valueEnd)) return undefined;
        values |= value[0];
      } else if (tag === 6 && wire === WIRE_VARINT) {
        if (this.varint(end) < 0) return this.missing();
        hasTimestamp = true;
      } else if (!this.skip(wire, end)) {
        return undefined;
      }
    }
    return { labels, values, hasTimestamp };
  }

  /** A label pair, the `position`-th of its metric. */
  private readLabelPair(end: number, position: number): readonly [string, string] | undefined {
    let name = '';
    let value = '';
    while (this.pos < end) {
      const tag = this.key(end, LABEL_PAIR.goName);
      if (tag < 0) return undefined;
      if ((tag === 1 || tag === 2) && this.wire === WIRE_BYTES) {
        const s = this.string(end, tag === 1 ? position : -1);
        if (s === undefined) return undefined;
        if (tag === 1) name = s;
        else value = s;
      } else if (!this.skip(this.wire, end)) {
        return undefined;
      }
    }
    return [name, value];
  }

  /** Decodes a message the model keeps nothing of; false on an error. */
  private walk(message: Schema, end: number): boolean {
    while (this.pos < end) {
      const tag = this.key(end, message.goName);
      if (tag < 0) return false;
      const wire = this.wire;
      const kind = tag < message.fields.length ? message.fields[tag] : undefined;
      if (kind === undefined) {
        if (!this.skip(wire, end)) return false;
      } else if (typeof kind !== 'number') {
        if (wire !== WIRE_BYTES) {
          if (!this.skip(wire, end)) return false;
          continue;
        }
        const nestedEnd = this.nested(end);
        if (nestedEnd < 0 || !this.walk(kind, nestedEnd)) return false;
      } else if (wire === WIRE_BYTES && (kind === PACKED_VARINT || kind === PACKED_FIXED64)) {
        if (!this.packed(kind, end)) return false;
      } else if ((kind === VARINT || kind === PACKED_VARINT) && wire === WIRE_VARINT) {
        if (this.varint(end) < 0) return this.eof();
      } else if ((kind === FIXED64 || kind === PACKED_FIXED64) && wire === WIRE_FIXED64) {
        if (end - this.pos < 8) return this.eof();
        this.pos += 8;
      } else if (!this.skip(wire, end)) {
        // A string (BYTES) is skipped exactly as it is decoded; a wire type that does not match the
        // declaration makes the field unknown.
        return false;
      }
    }
    return true;
  }

  /** A packed repeated number: a length, then elements that must fill it exactly. */
  private packed(kind: number, end: number): boolean {
    const length = this.varint(end);
    if (length < 0 || length > end - this.pos) return this.eof();
    const packedEnd = this.pos + length;
    while (this.pos < packedEnd) {
      if (kind === PACKED_VARINT) {
        if (this.varint(packedEnd) < 0) return this.eof();
      } else {
        if (packedEnd - this.pos < 8) return this.eof();
        this.pos += 8;
      }
    }
    return true;
  }

  /** A field key: its number (the wire type in this.wire), or -1 on an error. Field 0 is refused. */
  private key(end: number, goName: string): number {
    const first = this.buf[this.pos]!;
    const key = this.varint(end);
    if (key < 0) {
      this.eof();
      return -1;
    }
    this.wire = first & 7;
    const tag = Math.floor(key / 8);
    if (tag === 0) {
      this.failure = invalid(`proto: ${goName}: illegal tag 0 (wire type ${this.wire})`);
      return -1;
    }
    return tag;
  }

  /**
   * A length-delimited string within `end`; undefined on an error. A label name (`position` ≥ 0)
   * is taken from the names last seen at its position when it equals one: series of a family
   * usually repeat their label names in order.
   */
  private string(end: number, position = -1): string | undefined {
    const length = this.varint(end);
    if (length < 0 || length > end - this.pos) return this.missing();
    if (length > this.limits.maxStringBytes) return this.tooLarge('maxStringBytes');
    const start = this.pos;
    this.pos += length;
    if (position < 0) return decodeGoString(this.buf, start, this.pos);
    const recent = this.recentLabelNames[position];
    if (recent !== undefined && isAsciiAt(this.buf, start, this.pos, recent)) return recent;
    const name = decodeGoString(this.buf, start, this.pos);
    this.recentLabelNames[position] = name;
    return name;
  }

  /** The end of a length-delimited nested message within `end`, or -1 on an error. */
  private nested(end: number): number {
    const length = this.varint(end);
    if (length < 0 || length > end - this.pos) {
      this.eof();
      return -1;
    }
    return this.pos + length;
  }

  /** golang/protobuf's skipField for an unknown field; false on an error. */
  private skip(wire: number, end: number): boolean {
    switch (wire) {
      case WIRE_VARINT:
        return this.varint(end) >= 0 || this.eof();
      case WIRE_FIXED64:
      case WIRE_FIXED32: {
        const size = wire === WIRE_FIXED64 ? 8 : 4;
        if (end - this.pos < size) return this.eof();
        this.pos += size;
        return true;
      }
      case WIRE_BYTES: {
        const length = this.varint(end);
        if (length < 0 || length > end - this.pos) return this.eof();
        this.pos += length;
        return true;
      }
      case WIRE_START_GROUP:
        return this.skipGroup(end) || this.eof();
    }
    this.failure = invalid(`proto: can't skip unknown wire type ${wire}`);
    return false;
  }

  /** golang/protobuf's findEndGroup: past the end-group key that closes this group; false if none. */
  private skipGroup(end: number): boolean {
    let depth = 1;
    for (;;) {
      if (this.varint(end) < 0) return false;
      switch (this.buf[this.lastVarintStart]! & 7) {
        case WIRE_VARINT:
          if (this.varint(end) < 0) return false;
          break;
        case WIRE_FIXED64:
          if (end - this.pos < 8) return false;
          this.pos += 8;
          break;
        case WIRE_FIXED32:
          if (end - this.pos < 4) return false;
          this.pos += 4;
          break;
        case WIRE_BYTES: {
          const length = this.varint(end);
          if (length < 0 || length > end - this.pos) return false;
          this.pos += length;
          break;
        }
        case WIRE_START_GROUP:
          depth++;
          break;
        case WIRE_END_GROUP:
          if (--depth === 0) return true;
          break;
        default:
          return false;
      }
    }
  }

  /**
   * golang/protobuf's decodeVarint within `end`: at most ten bytes, the tenth 0 or 1. The value
   * (exact up to 2^53, which is all a length or a field number needs), or -1 when the varint is
   * truncated or too long; its low 32 bits in this.low32.
   */
  private varint(end: number): number {
    const buf = this.buf;
    let i = this.pos;
    this.lastVarintStart = i;
    let value = 0;
    let scale = 1;
    let low = 0;
    for (let n = 0; n < 10; n++, i++) {
      if (i >= end) return -1;
      const b = buf[i]!;
      if (n === 9 && b > 1) return -1;
      if (n < 5) low |= (b & 0x7f) << (7 * n);
      value += (b & 0x7f) * scale;
      scale *= 128;
      if (b < 0x80) {
        this.pos = i + 1;
        this.low32 = low | 0;
        return value;
      }
    }
    return -1;
  }

  /** The input of a message ended within a field: false, for the readers that answer whether they read it. */
  private eof(): false {
    this.failure = invalid(UNEXPECTED_EOF);
    return false;
  }

  /** eof() for the readers that answer what they read. */
  private missing(): undefined {
    this.eof();
    return undefined;
  }

  private tooLarge(limit: BodyLimit): undefined {
    this.failure = tooLarge(limit, this.limits);
    return undefined;
  }
}

/** bytes[start, end) are exactly the characters of `s` (which then is ASCII, or fails the compare). */
function isAsciiAt(bytes: Buffer, start: number, end: number, s: string): boolean {
  if (end - start !== s.length) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80 || bytes[start + i] !== c) return false;
  }
  return true;
}

function invalid(message: string): ParsedBody {
  return { ok: false, kind: 'invalid', message };
}

function tooLarge(limit: BodyLimit, limits: BodyLimits): ParsedBody {
  return { ok: false, kind: 'too-large', limit, max: limits[limit] };
}
