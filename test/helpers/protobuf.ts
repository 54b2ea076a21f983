// A hand-written encoder for io.prometheus.client.MetricFamily (metrics.proto, proto2), so tests can
// push the protobuf exposition format without pulling a protobuf runtime into the project. Beside
// the simple families, it builds any message field by field (`pb`), broken ones included.

export const PROTOBUF_CONTENT_TYPE = 'application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited';

export type SimpleMetricType = 'COUNTER' | 'GAUGE' | 'UNTYPED';

export interface SimpleMetric {
  labels?: Record<string, string>;
  value: number;
  timestampMs?: number;
}

export interface SimpleMetricFamily {
  name: string;
  help?: string;
  type: SimpleMetricType;
  metrics: SimpleMetric[];
}

const METRIC_TYPE_NUMBERS: Record<SimpleMetricType, number> = { COUNTER: 0, GAUGE: 1, UNTYPED: 3 };

// Field number of the value sub-message inside Metric, per metric type.
const VALUE_FIELDS: Record<SimpleMetricType, number> = { COUNTER: 3, GAUGE: 2, UNTYPED: 5 };

const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;

export function encodeVarint(value: bigint): Buffer {
  // int64 is encoded as its 64-bit two's complement, so negatives take the full ten bytes.
  let rest = BigInt.asUintN(64, value);
  const bytes: number[] = [];
  while (rest >= 0x80n) {
    bytes.push(Number(rest & 0x7fn) | 0x80);
    rest >>= 7n;
  }
  bytes.push(Number(rest));
  return Buffer.from(bytes);
}

export function encodeTag(field: number, wireType: number): Buffer {
  return encodeVarint(BigInt((field << 3) | wireType));
}

export function encodeLengthDelimited(field: number, payload: Buffer): Buffer {
  return Buffer.concat([encodeTag(field, WIRE_LEN), encodeVarint(BigInt(payload.length)), payload]);
}

function encodeString(field: number, value: string): Buffer {
  return encodeLengthDelimited(field, Buffer.from(value, 'utf8'));
}

function encodeDouble(field: number, value: number): Buffer {
  const payload = Buffer.alloc(8);
  payload.writeDoubleLE(value);
  return Buffer.concat([encodeTag(field, WIRE_I64), payload]);
}

function encodeMetric(metric: SimpleMetric, type: SimpleMetricType): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of Object.entries(metric.labels ?? {})) {
    parts.push(encodeLengthDelimited(1, Buffer.concat([encodeString(1, name), encodeString(2, value)])));
  }
  parts.push(encodeLengthDelimited(VALUE_FIELDS[type], encodeDouble(1, metric.value)));
  if (metric.timestampMs !== undefined) {
    if (!Number.isSafeInteger(metric.timestampMs)) {
      throw new Error(`timestampMs must be a safe integer, got ${metric.timestampMs}`);
    }
    parts.push(encodeTag(6, WIRE_VARINT), encodeVarint(BigInt(metric.timestampMs)));
  }
  return Buffer.concat(parts);
}

function encodeMetricFamily(family: SimpleMetricFamily): Buffer {
  const parts: Buffer[] = [encodeString(1, family.name)];
  if (family.help !== undefined) {
    parts.push(encodeString(2, family.help));
  }
  // proto2 fields have presence, so COUNTER (0) is written explicitly rather than left to the default.
  parts.push(encodeTag(3, WIRE_VARINT), encodeVarint(BigInt(METRIC_TYPE_NUMBERS[family.type])));
  for (const metric of family.metrics) {
    parts.push(encodeLengthDelimited(4, encodeMetric(metric, family.type)));
  }
  return Buffer.concat(parts);
}

export function encodeDelimitedMetricFamilies(families: readonly SimpleMetricFamily[]): Buffer {
  return Buffer.concat(
    families.map((family) => {
      const message = encodeMetricFamily(family);
      return Buffer.concat([encodeVarint(BigInt(message.length)), message]);
    }),
  );
}

// --- field by field, for summaries, histograms and broken or unusual messages ---

/** A message's fields, concatenated: each argument is a field (or any raw bytes). */
export function message(...fields: Buffer[]): Buffer {
  return Buffer.concat(fields);
}

/** One frame of a delimited body: the message's length as a varint, then the message. */
export function frame(...fields: Buffer[]): Buffer {
  const body = Buffer.concat(fields);
  return Buffer.concat([encodeVarint(BigInt(body.length)), body]);
}

export const pb = {
  /** A length-delimited field: a string, bytes or a nested message. */
  bytes: (field: number, ...parts: Buffer[]): Buffer => encodeLengthDelimited(field, Buffer.concat(parts)),
  string: (field: number, value: string): Buffer => encodeString(field, value),
  double: (field: number, value: number): Buffer => encodeDouble(field, value),
  varint: (field: number, value: number | bigint): Buffer => Buffer.concat([encodeTag(field, WIRE_VARINT), encodeVarint(BigInt(value))]),
  /** A key with any wire type, for fields that do not match their declaration. */
  key: (field: number, wireType: number): Buffer => encodeTag(field, wireType),
  raw: (hex: string): Buffer => Buffer.from(hex.replace(/\s+/g, ''), 'hex'),
};

/** MetricFamily fields. */
export const family = {
  name: (name: string): Buffer => pb.string(1, name),
  help: (help: string): Buffer => pb.string(2, help),
  type: (type: number): Buffer => pb.varint(3, type),
  metric: (...fields: Buffer[]): Buffer => pb.bytes(4, ...fields),
};

/** Metric fields. */
export const metric = {
  label: (name: string, value: string): Buffer => pb.bytes(1, pb.string(1, name), pb.string(2, value)),
  gauge: (value: number): Buffer => pb.bytes(2, pb.double(1, value)),
  counter: (value: number): Buffer => pb.bytes(3, pb.double(1, value)),
  summary: (count: number, sum: number, quantiles: ReadonlyArray<readonly [q: number, v: number]> = []): Buffer =>
    pb.bytes(4, pb.varint(1, count), pb.double(2, sum), ...quantiles.map(([q, v]) => pb.bytes(3, pb.double(1, q), pb.double(2, v)))),
  untyped: (value: number): Buffer => pb.bytes(5, pb.double(1, value)),
  histogram: (count: number, sum: number, buckets: ReadonlyArray<readonly [upperBound: number, cumulative: number]> = []): Buffer =>
    pb.bytes(7, pb.varint(1, count), pb.double(2, sum), ...buckets.map(([le, c]) => pb.bytes(3, pb.varint(1, c), pb.double(2, le)))),
  timestampMs: (ms: number): Buffer => pb.varint(6, ms),
};

export const METRIC_TYPE = { COUNTER: 0, GAUGE: 1, SUMMARY: 2, UNTYPED: 3, HISTOGRAM: 4, GAUGE_HISTOGRAM: 5 } as const;
