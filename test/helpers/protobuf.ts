// A hand-written encoder for io.prometheus.client.MetricFamily (metrics.proto, proto2), so tests can
// push the protobuf exposition format without pulling a protobuf runtime into the project.

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

function encodeVarint(value: bigint): Buffer {
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

function encodeTag(field: number, wireType: number): Buffer {
  return encodeVarint(BigInt((field << 3) | wireType));
}

function encodeLengthDelimited(field: number, payload: Buffer): Buffer {
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
