/**
 * A delimited-protobuf encoder for io.prometheus.client.MetricFamily (client_model v0.3.0,
 * metrics.proto) covering what test/helpers/protobuf.ts does not: summaries, histograms, a value
 * field that does not match the family's type, a metric with no value at all, and families with
 * no metrics. The differential tests need these because the Pushgateway's check treats each of
 * them differently, and only protobuf can express them.
 */
import { encodeLengthDelimited, encodeTag, encodeVarint } from './protobuf.js';

/** dto.MetricType's numbers. */
export type ProtoType = 'COUNTER' | 'GAUGE' | 'SUMMARY' | 'UNTYPED' | 'HISTOGRAM' | 'GAUGE_HISTOGRAM';

const TYPE_NUMBERS: Record<ProtoType, number> = { COUNTER: 0, GAUGE: 1, SUMMARY: 2, UNTYPED: 3, HISTOGRAM: 4, GAUGE_HISTOGRAM: 5 };

/** Which of dto.Metric's value fields a metric carries (field numbers of metrics.proto). */
export type ValueField = 'gauge' | 'counter' | 'summary' | 'untyped' | 'histogram';

const VALUE_FIELD_NUMBERS: Record<ValueField, number> = { gauge: 2, counter: 3, summary: 4, untyped: 5, histogram: 7 };

export interface ProtoMetric {
  /** A Buffer value says bytes that are not UTF-8, which only protobuf can carry. */
  readonly labels?: ReadonlyArray<readonly [name: string, value: string | Buffer]>;
  /** The value sub-messages to write, in this order; empty: a metric with no value. */
  readonly fields: readonly ValueField[];
  /** gauge/counter/untyped value; a summary's or histogram's sum. */
  readonly value: number;
  readonly timestampMs?: number;
}

export interface ProtoFamily {
  readonly name: string;
  readonly help?: string;
  /** Absent: the field is left out (proto2 presence; Go's GetType() then gives COUNTER). */
  readonly type?: ProtoType;
  readonly metrics: readonly ProtoMetric[];
}

/** The value field a family of this type is meant to carry. */
export function valueFieldOf(type: ProtoType): ValueField {
  switch (type) {
    case 'COUNTER':
      return 'counter';
    case 'GAUGE':
      return 'gauge';
    case 'SUMMARY':
      return 'summary';
    case 'UNTYPED':
      return 'untyped';
    case 'HISTOGRAM':
    case 'GAUGE_HISTOGRAM':
      return 'histogram';
  }
}

const WIRE_VARINT = 0;
const WIRE_I64 = 1;

const varint = encodeVarint;
const tag = encodeTag;
const lengthDelimited = encodeLengthDelimited;

function text(field: number, value: string | Buffer): Buffer {
  return lengthDelimited(field, typeof value === 'string' ? Buffer.from(value, 'utf8') : value);
}

function double(field: number, value: number): Buffer {
  const payload = Buffer.alloc(8);
  payload.writeDoubleLE(value);
  return Buffer.concat([tag(field, WIRE_I64), payload]);
}

function uint(field: number, value: number): Buffer {
  return Buffer.concat([tag(field, WIRE_VARINT), varint(BigInt(value))]);
}

// A summary and a histogram get one quantile or bucket each: enough for every check the
// Pushgateway runs, which never looks at the values.
function encodeValue(field: ValueField, value: number): Buffer {
  switch (field) {
    case 'gauge':
    case 'counter':
    case 'untyped':
      return double(1, value);
    case 'summary':
      return Buffer.concat([uint(1, 1), double(2, value), lengthDelimited(3, Buffer.concat([double(1, 0.5), double(2, value)]))]);
    case 'histogram':
      return Buffer.concat([uint(1, 1), double(2, value), lengthDelimited(3, Buffer.concat([uint(1, 1), double(2, 1)]))]);
  }
}

function encodeMetric(metric: ProtoMetric): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of metric.labels ?? []) {
    parts.push(lengthDelimited(1, Buffer.concat([text(1, name), text(2, value)])));
  }
  for (const field of metric.fields) {
    parts.push(lengthDelimited(VALUE_FIELD_NUMBERS[field], encodeValue(field, metric.value)));
  }
  if (metric.timestampMs !== undefined) {
    parts.push(tag(6, WIRE_VARINT), varint(BigInt(metric.timestampMs)));
  }
  return Buffer.concat(parts);
}

function encodeFamily(family: ProtoFamily): Buffer {
  const parts: Buffer[] = [text(1, family.name)];
  if (family.help !== undefined) parts.push(text(2, family.help));
  if (family.type !== undefined) parts.push(uint(3, TYPE_NUMBERS[family.type]));
  for (const metric of family.metrics) parts.push(lengthDelimited(4, encodeMetric(metric)));
  return Buffer.concat(parts);
}

/** Families as a Pushgateway reads a delimited push: each message behind its varint length. */
export function encodeProtoFamilies(families: readonly ProtoFamily[]): Buffer {
  return Buffer.concat(
    families.map((family) => {
      const message = encodeFamily(family);
      return Buffer.concat([varint(BigInt(message.length)), message]);
    }),
  );
}
