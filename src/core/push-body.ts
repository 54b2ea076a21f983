/**
 * What judging a push needs to know of its body: the metric families a Pushgateway would build
 * from it (client_model's dto.MetricFamily), reduced to what its consistency check looks at —
 * names, types, help, each metric's labels, which value fields it carries, whether it has a
 * timestamp. Values are not kept: the check never compares them, and the body itself is what
 * reaches the backends, byte for byte.
 *
 * The parsers (text-format.ts, protobuf-format.ts) produce this model; the judge (judge.ts)
 * consumes it, as does the index built from a backend's /api/v1/metrics.
 */

/** dto.MetricType, spelled as Go prints it in the Pushgateway's error messages. */
export type MetricType = 'COUNTER' | 'GAUGE' | 'SUMMARY' | 'UNTYPED' | 'HISTOGRAM' | 'GAUGE_HISTOGRAM';

/** Bits of PushedMetric.values: which of dto.Metric's value fields are set. */
export const VALUE_COUNTER = 1;
export const VALUE_GAUGE = 2;
export const VALUE_SUMMARY = 4;
export const VALUE_UNTYPED = 8;
export const VALUE_HISTOGRAM = 16;

/**
 * The value field a metric of each type carries: what checkMetricConsistency wants, and what the
 * text parser sets. GAUGE_HISTOGRAM: none (expfmt sets no value for it).
 */
export const VALUE_OF_TYPE: Readonly<Record<MetricType, number>> = {
  COUNTER: VALUE_COUNTER,
  GAUGE: VALUE_GAUGE,
  SUMMARY: VALUE_SUMMARY,
  UNTYPED: VALUE_UNTYPED,
  HISTOGRAM: VALUE_HISTOGRAM,
  GAUGE_HISTOGRAM: 0,
};

export interface PushedMetric {
  /**
   * dto.Metric's label pairs in the order the body gave them. As in the text parser, a summary's
   * `quantile` and a histogram's `le` are not labels.
   */
  readonly labels: ReadonlyArray<readonly [name: string, value: string]>;
  /** A bitmask of VALUE_*: text sets exactly its family's; protobuf may set several or none. */
  readonly values: number;
  readonly hasTimestamp: boolean;
}

export interface PushedFamily {
  readonly name: string;
  /** '' when the body has none (Go's GetHelp()). */
  readonly help: string;
  readonly type: MetricType;
  /**
   * Set only when a protobuf body gives dto.MetricType a number none of MetricType's names has
   * (proto2 enums are not checked when decoding): Go prints it as that decimal number, and `type`
   * holds 'UNTYPED' as a placeholder. A checked Pushgateway 1.5.1 stores such a family, and with
   * metrics it breaks the Pushgateway's GET /metrics: the judge must look at this first.
   */
  readonly unknownType?: number;
  readonly metrics: readonly PushedMetric[];
}

/** Bounds on one push's body after decompression; each one crossed is a 413. */
export interface BodyLimits {
  readonly maxFamilies: number;
  /** Metrics of all families together. */
  readonly maxSeries: number;
  readonly maxLabelsPerSeries: number;
  /** Bytes of any one metric name, label name, label value or help text. */
  readonly maxStringBytes: number;
}

export type BodyLimit = keyof BodyLimits;

export type ParsedBody =
  /** Families by name: a later protobuf family of the same name replaces the earlier, as in the Pushgateway. */
  | { readonly ok: true; readonly families: readonly PushedFamily[] }
  /** What a Pushgateway answers 400 to before looking at its store: `message` is its body, newline included. */
  | { readonly ok: false; readonly kind: 'invalid'; readonly message: string }
  | { readonly ok: false; readonly kind: 'too-large'; readonly limit: BodyLimit; readonly max: number };
