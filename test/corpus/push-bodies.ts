/**
 * Push bodies to send to a checked Pushgateway 1.5.1 and to pushring's parser
 * (test/behaviour/parse-corpus.test.ts): valid ones of every kind, one for every error either
 * parser can give, broken gzip, and those the Pushgateway's consistency check refuses although
 * its parser accepts them (`check`: those are the judge's).
 */
import { gzipSync } from 'node:zlib';
import { encodeVarint, family, frame, METRIC_TYPE, metric, pb, PROTOBUF_CONTENT_TYPE } from '../helpers/protobuf.js';

export interface CorpusBody {
  readonly name: string;
  readonly body: Buffer;
  /** Text when absent, as most clients send it. */
  readonly contentType?: string;
  readonly contentEncoding?: string;
  /** Never sent to a Pushgateway: it would kill it. Checked against the parser alone. */
  readonly parserOnly?: { readonly message: string };
  /** The start of the message of the Pushgateway's check, which refuses what its parser accepted. */
  readonly check?: string;
}

const TEXT = 'text/plain; version=0.0.4';
const CHECK = 'pushed metrics are invalid or inconsistent with existing metrics: ';

const text = (name: string, body: string, more: Partial<CorpusBody> = {}): CorpusBody => ({
  name,
  body: Buffer.from(body, 'utf8'),
  contentType: TEXT,
  ...more,
});
const bytes = (name: string, body: Buffer, more: Partial<CorpusBody> = {}): CorpusBody => ({ name, body, contentType: TEXT, ...more });
const proto = (name: string, body: Buffer, more: Partial<CorpusBody> = {}): CorpusBody => ({ name, body, contentType: PROTOBUF_CONTENT_TYPE, ...more });

const gauge = (name: string, ...fields: Buffer[]): Buffer =>
  frame(family.name(name), family.type(METRIC_TYPE.GAUGE), family.metric(...fields, metric.gauge(1)));
const flip = (b: Buffer, i: number, mask = 0xff): Buffer => {
  const copy = Buffer.from(b);
  copy[i]! ^= mask;
  return copy;
};

const SUMMARY = `# HELP rpc_seconds RPC latency.
# TYPE rpc_seconds summary
rpc_seconds{service="a",quantile="0.5"} 0.1
rpc_seconds{service="a",quantile="0.99"} NaN
rpc_seconds_sum{service="a"} 12.5
rpc_seconds_count{service="a"} 100
rpc_seconds{service="b",quantile="0.5"} 0.3
rpc_seconds_sum{service="b"} 1
rpc_seconds_count{service="b"} 4
`;
const HISTOGRAM = `# HELP req_bytes Request sizes.
# TYPE req_bytes histogram
req_bytes_bucket{route="/x",le="100"} 3
req_bytes_bucket{route="/x",le="1000"} 7
req_bytes_bucket{route="/x",le="+Inf"} 9
req_bytes_sum{route="/x"} 4321
req_bytes_count{route="/x"} 9
`;
const MANY = Array.from({ length: 200 }, (_, i) => `many_series{shard="${i % 7}",id="${i}"} ${i}.5\n`).join('');

const textGzip = gzipSync(Buffer.from('zipped_total 1\nzipped_other{a="b"} 2\n'));
const protoGzip = gzipSync(gauge('zipped_gauge', metric.label('a', '1')));
const brokenText = gzipSync(Buffer.from('zipped 1\nzipped_bad{ 2\n'));

export const CORPUS: readonly CorpusBody[] = [
  // --- text, accepted ---
  text('an untyped sample', 'plain_value 1\n'),
  text(
    'a counter with help and labels',
    '# HELP jobs_total Jobs done.\n# TYPE jobs_total counter\njobs_total{kind="a",zone="eu"} 3\njobs_total{kind="b",zone="eu"} 4\n',
  ),
  text('a gauge with an exponent', '# TYPE temp_celsius gauge\ntemp_celsius -1.5e-3\n'),
  text('a summary', SUMMARY),
  text('a histogram', HISTOGRAM),
  text('escapes in label values and help', '# HELP esc_value a\\\\b\\nc "q"\nesc_value{path="C:\\\\dir\\\\",msg="say \\"hi\\"\\nbye"} 1\n'),
  text('NaN and infinities', 'special_a NaN\nspecial_b +Inf\nspecial_c -Inf\nspecial_d Infinity\nspecial_e nan\n'),
  text('underflow is zero, not an error', 'tiny_value 1e-400\n'),
  text('comments, blank lines, blanks and tabs', '# a comment\n\n   \t\n#\n# HELP\n#HELP spaced_value h\n \t spaced_value\t{ a = "1" , }  2\n'),
  text('Go upper-cases the ſ of ſummary', '# TYPE long_s ſummary\nlong_s{quantile="0.5"} 1\n'),
  text('a TYPE line drops its backslashes', '# TYPE slashed_gauge gau\\ge\nslashed_gauge 1\n'),
  text('_sum of a gauge is a family of its own', '# TYPE own_gauge gauge\nown_gauge 1\nown_gauge_sum 2\n'),
  text('families without samples are dropped', '# HELP lonely_help nothing\n# TYPE lonely_type gauge\nnot_lonely 1\n'),
  text('an empty body', ''),
  text('Unicode in label values', 'unicode_value{name="café ☕ 😀",empty=""} 1\n'),
  text('labels named like the grouping labels', 'relabelled{job="other",instance="host:1"} 1\n'),
  text('two hundred series', MANY),
  bytes('invalid UTF-8 in help', Buffer.concat([Buffer.from('# HELP bad_help caf'), Buffer.of(0xe9), Buffer.from('\nbad_help 1\n')])),
  text('a le label on a summary is a label', '# TYPE le_summary summary\nle_summary{le="1",quantile="0.5"} 1\n'),

  // --- text, refused by the check ---
  text('a timestamp', 'stamped 1 1700000000000\n', { check: CHECK + 'pushed metrics must not have timestamps' }),
  text('a duplicate series', 'twice{a="1"} 1\ntwice{a="1"} 2\n', { check: CHECK + 'collected metric "twice"' }),
  text('a family named like the _count of a later summary', 'late_count 1\n# TYPE late summary\nlate{quantile="0.5"} 1\n', { check: CHECK }),
  text('a gauge_histogram (accepted; its GET /metrics breaks)', '# TYPE gauge_hist gauge_histogram\ngauge_hist{le="1"} 1\n'),

  // --- text, parse errors ---
  text('no newline at the end', 'no_newline 1', {}),
  text('end of input in a label set', 'cut{a="1"'),
  text('end of input in a comment', 'x 1\n# a comment'),
  text('invalid metric name', '{a="1"} 1\n'),
  text('a name starting with a digit', '1abc 1\n'),
  text('invalid metric name in comment', '# TYPE bad{ gauge\n'),
  text('invalid label name', 'lbl{,} 1\n'),
  text('a reserved label name', 'lbl{__name__="x"} 1\n'),
  text("no '=' after a label name", 'lbl{a b} 1\n'),
  text('duplicate label names', 'lbl{a="1",a="2"} 1\n'),
  text('a label value without quotes', 'lbl{a=1} 1\n'),
  text('an invalid escape in a label value', 'lbl{a="\\q"} 1\n'),
  text('an invalid escape in help', '# HELP lbl a\\tb\n'),
  text('an unescaped newline in a label value', 'lbl{a="b\nc"} 1\n'),
  bytes('invalid UTF-8 in a label value', Buffer.from('lbl{a="\xff\xfe"} 1\n', 'latin1')),
  text('a quantile that is no float', '# TYPE q_sum summary\nq_sum{quantile="high"} 1\n'),
  text('an le that is no float', '# TYPE h_bad histogram\nh_bad_bucket{le=""} 1\n'),
  text('no comma between labels', 'lbl{a="1" b="2"} 1\n'),
  text('no value', 'novalue\n'),
  text('a hexadecimal value', 'hex_value 0x10\n'),
  text('an underscore in a value', 'underscore_value 1_000\n'),
  text('a signed NaN', 'signed_nan +nan\n'),
  text('an overflowing value', 'huge_value 1e400\n'),
  text('a brace after the labels', 'lbl{a="1"}} 1\n'),
  bytes('bytes Go quotes', Buffer.from('quoted \x01\x7f\u0085\u00a0\u00ad\ufeff\u{1fae0}😀é\n', 'utf8')),
  bytes('a Latin-1 byte where = should be', Buffer.from('lbl{a\xc3} 1\n', 'latin1')),
  text('a blank after the value', 'blank 1 \n'),
  text('a timestamp that is no integer', 'stamp 1 1.5\n'),
  text('a timestamp past int64', 'stamp 1 9223372036854775808\n'),
  text('something after the timestamp', 'stamp 1 2 3\n'),
  text('a second HELP line', '# HELP twice_help a\ntwice_help 1\n# HELP twice_help b\n'),
  text('a second TYPE line', '# TYPE twice_type gauge\n# TYPE twice_type counter\n'),
  text('TYPE after samples', 'typed_late 1\n# TYPE typed_late gauge\n'),
  text('TYPE for the _sum of a summary', '# TYPE sm summary\n# TYPE sm_sum gauge\n'),
  text('an unknown type', '# TYPE what_type timer\n'),
  text('a type with a trailing blank', '# TYPE trail_type counter \n'),
  text('a ligature Go does not upper-case', '# TYPE lig hiﬆogram\n'),
  text('Windows line ends', 'crlf_value 1\r\n'),
  text('a byte order mark', '\ufeffbom_value 1\n'),
  text('a label set whose names change between series', 'shifting{a="1",b="2"} 1\nshifting{b="3",a="1"} 2\nshifting{c="3"} 3\n'),

  // --- protobuf, accepted ---
  proto(
    'a protobuf gauge with labels and help',
    frame(family.name('pb_gauge'), family.help('A gauge.'), family.type(METRIC_TYPE.GAUGE), family.metric(metric.label('a', '1'), metric.gauge(2))),
  ),
  proto(
    'protobuf counter, untyped, summary and histogram',
    Buffer.concat([
      frame(family.name('pb_counter'), family.type(METRIC_TYPE.COUNTER), family.metric(metric.counter(1))),
      frame(family.name('pb_untyped'), family.type(METRIC_TYPE.UNTYPED), family.metric(metric.untyped(1))),
      frame(family.name('pb_summary'), family.type(METRIC_TYPE.SUMMARY), family.metric(metric.label('s', 'x'), metric.summary(3, 4, [[0.5, 1]]))),
      frame(
        family.name('pb_histogram'),
        family.type(METRIC_TYPE.HISTOGRAM),
        family.metric(
          metric.histogram(2, 3, [
            [1, 1],
            [Infinity, 2],
          ]),
        ),
      ),
    ]),
  ),
  proto(
    'a native histogram and an exemplar',
    Buffer.concat([
      frame(
        family.name('pb_native'),
        family.type(METRIC_TYPE.HISTOGRAM),
        family.metric(
          pb.bytes(7, pb.varint(1, 3), pb.double(2, 1), pb.varint(5, 3), pb.bytes(12, pb.varint(1, 0), pb.varint(2, 2)), pb.bytes(13, pb.raw('02 02'))),
        ),
      ),
      frame(
        family.name('pb_exemplar'),
        family.type(METRIC_TYPE.COUNTER),
        family.metric(pb.bytes(3, pb.double(1, 1), pb.bytes(2, metric.label('trace_id', 'abc'), pb.double(2, 1), pb.bytes(3, pb.varint(1, 1700000000))))),
      ),
    ]),
  ),
  proto('a later family replaces an earlier one', Buffer.concat([gauge('pb_twice', metric.label('v', '1')), gauge('pb_twice', metric.label('v', '2'))])),
  proto('an empty protobuf body', Buffer.alloc(0)),
  proto('an empty frame', Buffer.concat([gauge('pb_before_empty'), frame()])),
  proto('a family without metrics', frame(family.name('pb_empty'), family.type(METRIC_TYPE.GAUGE))),
  proto('a partial prefix at the end', Buffer.concat([gauge('pb_partial'), pb.raw('80 80')])),
  proto('a prefix with nothing after it', Buffer.concat([gauge('pb_bare'), pb.raw('05')])),
  proto(
    'unknown fields and groups',
    frame(
      family.name('pb_unknown'),
      pb.varint(50, 1),
      pb.raw('9b 03 08 01 9c 03'),
      family.type(METRIC_TYPE.GAUGE),
      family.metric(pb.bytes(20, pb.raw('ff')), metric.gauge(1)),
    ),
  ),
  proto(
    'a field of the wrong wire type',
    frame(pb.varint(1, 5), family.name('pb_wire'), family.type(METRIC_TYPE.GAUGE), family.metric(pb.varint(2, 1), metric.gauge(1))),
  ),
  proto('a type number of 2^32+1 is GAUGE', frame(family.name('pb_wide_type'), family.type(2 ** 32 + 1), family.metric(metric.gauge(1)))),
  proto(
    'a type number outside the enum (accepted; its GET /metrics breaks)',
    frame(family.name('pb_type_nine'), family.type(9), family.metric(metric.gauge(1))),
  ),
  proto(
    'a metric with two value fields',
    frame(family.name('pb_two_values'), family.type(METRIC_TYPE.GAUGE), family.metric(metric.gauge(1), metric.counter(2))),
  ),
  proto('a protobuf label named like the grouping labels', gauge('pb_relabelled', metric.label('job', 'other'), metric.label('instance', 'h'))),

  // --- protobuf, refused by the check ---
  proto('a protobuf timestamp', frame(family.name('pb_stamped'), family.type(METRIC_TYPE.GAUGE), family.metric(metric.gauge(1), metric.timestampMs(1))), {
    check: CHECK + 'pushed metrics must not have timestamps',
  }),
  proto('an invalid label name', gauge('pb_bad_label', metric.label('a-b', '1')), { check: CHECK }),
  proto('an empty label name', gauge('pb_empty_label', metric.label('', '1')), { check: CHECK }),
  proto('the __name__ label', gauge('pb_name_label', metric.label('__name__', 'x')), { check: CHECK }),
  proto('duplicate label names', gauge('pb_dup_label', metric.label('a', '1'), metric.label('a', '2')), { check: CHECK }),
  proto('invalid UTF-8 in a label value', gauge('pb_bad_value', pb.bytes(1, pb.string(1, 'a'), pb.bytes(2, pb.raw('ff')))), { check: CHECK }),
  proto(
    'a quantile label on a summary',
    frame(family.name('pb_q'), family.type(METRIC_TYPE.SUMMARY), family.metric(metric.label('quantile', '1'), metric.summary(1, 1))),
    { check: CHECK },
  ),
  proto(
    'an le label on a histogram (accepted; its GET /metrics repeats le)',
    frame(family.name('pb_le'), family.type(METRIC_TYPE.HISTOGRAM), family.metric(metric.label('le', '1'), metric.histogram(1, 1))),
  ),
  proto('a metric without a value', frame(family.name('pb_no_value'), family.type(METRIC_TYPE.GAUGE), family.metric(metric.label('a', '1'))), { check: CHECK }),
  proto('a value field of another type', frame(family.name('pb_wrong_value'), family.type(METRIC_TYPE.GAUGE), family.metric(metric.counter(1))), {
    check: CHECK,
  }),
  proto('an invalid family name (accepted; its GET /metrics breaks)', gauge('1abc')),
  proto('a family without a name (accepted; its GET /metrics is empty)', frame(family.type(METRIC_TYPE.GAUGE), family.metric(metric.gauge(1)))),
  proto(
    'duplicate protobuf series',
    frame(family.name('pb_dup'), family.type(METRIC_TYPE.GAUGE), family.metric(metric.gauge(1)), family.metric(metric.gauge(2))),
    { check: CHECK },
  ),
  proto(
    'a histogram beside the _bucket it implies',
    Buffer.concat([frame(family.name('pb_h'), family.type(METRIC_TYPE.HISTOGRAM), family.metric(metric.histogram(1, 1))), gauge('pb_h_bucket')]),
    {
      check: CHECK,
    },
  ),

  // --- protobuf, parse errors ---
  proto('field 0 of a family', frame(pb.raw('00 01'))),
  proto('field 0 of a metric', frame(family.name('p'), family.metric(pb.raw('00 01')))),
  proto('field 0 of a label pair', frame(family.name('p'), family.metric(pb.bytes(1, pb.raw('05 00 00 00 00'))))),
  proto('field 0 of a timestamp', frame(family.name('p'), family.metric(pb.bytes(3, pb.bytes(2, pb.bytes(3, pb.raw('00 00'))))))),
  proto('field 0 of a bucket span', frame(family.name('p'), family.metric(pb.bytes(7, pb.bytes(9, pb.raw('00 00')))))),
  proto('an end-group key with no group', frame(pb.raw('2c'))),
  proto('wire type 6', frame(pb.raw('2e'))),
  proto('a ten-byte key of wire type 7', frame(pb.raw('ff ff ff ff ff ff ff ff ff 01'))),
  proto('an eleven-byte key', frame(pb.raw('ff ff ff ff ff ff ff ff ff ff 01'))),
  proto('a string past its message', frame(pb.raw('0a 05 61'))),
  proto('a group without its end', frame(pb.raw('2b 08 01'))),
  proto('a packed value cut short', frame(family.name('p'), family.metric(pb.bytes(7, pb.bytes(14, pb.raw('00 00 00')))))),
  proto('a frame shorter than its prefix', Buffer.concat([gauge('pb_ok'), pb.raw('05 0a')])),
  proto('five continuation bytes', Buffer.concat([gauge('pb_ok'), pb.raw('80 80 80 80 80')])),
  proto('the 9-byte frame claiming 16 GiB', pb.raw('80 80 80 80 40 aa bb cc dd'), { parserOnly: { message: 'unexpected EOF' } }),
  proto('a bare prefix claiming 16 GiB', encodeVarint(2n ** 34n), { parserOnly: { message: 'unexpected EOF' } }),

  // --- Content-Type ---
  bytes('a protobuf body sent as text', gauge('ct_text')),
  proto('a text body sent as protobuf', Buffer.from('ct_proto 1\n')),
  proto('protobuf, parameters quoted and in upper case', gauge('ct_quoted'), {
    contentType: 'application/vnd.google.protobuf; PROTO="io.prometheus.client.MetricFamily"; Encoding=delimited',
  }),
  proto('protobuf named by an RFC 2231 continuation', gauge('ct_2231'), {
    contentType: 'application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding*0=deli; encoding*1=mited',
  }),
  proto('a repeated parameter makes it text', gauge('ct_repeat'), { contentType: `${PROTOBUF_CONTENT_TYPE}; encoding=delimited` }),
  proto('a backslash before a letter stays', gauge('ct_backslash'), {
    contentType: 'application/vnd.google.protobuf; proto="io.prometheus.client.\\MetricFamily"; encoding=delimited',
  }),
  proto('Go lower-cases a UTF-8 İ', gauge('ct_dotted'), {
    contentType: Buffer.from('applİcation/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited').toString('latin1'),
  }),

  // --- gzip ---
  bytes('gzipped text', textGzip, { contentEncoding: 'gzip' }),
  proto('gzipped protobuf', protoGzip, { contentEncoding: 'gzip' }),
  bytes('two gzip members', Buffer.concat([textGzip, gzipSync(Buffer.from('zipped_third 3\n'))]), { contentEncoding: 'gzip' }),
  bytes('"GZIP" is no gzip', textGzip, { contentEncoding: 'GZIP' }),
  bytes('gzip, empty body', Buffer.alloc(0), { contentEncoding: 'gzip' }),
  bytes('gzip, five bytes', textGzip.subarray(0, 5), { contentEncoding: 'gzip' }),
  bytes('gzip, bad magic', flip(textGzip, 0), { contentEncoding: 'gzip' }),
  bytes('gzip, a name of 512 bytes', Buffer.concat([pb.raw('1f8b0808 00000000 0003'), Buffer.alloc(512, 0x61), pb.raw('00'), textGzip.subarray(10)]), {
    contentEncoding: 'gzip',
  }),
  bytes('gzip, a wrong header CRC', Buffer.concat([pb.raw('1f8b0802 00000000 0003'), pb.raw('0000'), textGzip.subarray(10)]), { contentEncoding: 'gzip' }),
  bytes('gzip, the header alone', textGzip.subarray(0, 10), { contentEncoding: 'gzip' }),
  bytes('gzip, cut inside a line', textGzip.subarray(0, textGzip.length - 14), { contentEncoding: 'gzip' }),
  bytes('gzip, a bad checksum after whole lines', flip(textGzip, textGzip.length - 6), { contentEncoding: 'gzip' }),
  bytes('gzip, a bad checksum after a parse error', flip(brokenText, brokenText.length - 6), { contentEncoding: 'gzip' }),
  proto('gzip, protobuf with a bad checksum', flip(protoGzip, protoGzip.length - 6), { contentEncoding: 'gzip' }),
  proto('gzip, protobuf with garbage after the member', Buffer.concat([protoGzip, Buffer.alloc(12)]), { contentEncoding: 'gzip' }),
  proto('gzip, protobuf with a few bytes after the member', Buffer.concat([protoGzip, pb.raw('1f 8b')]), { contentEncoding: 'gzip' }),
  bytes('gzip, corrupt deflate data inside a line', flip(gzipSync(Buffer.from('a 1\nb 2\n')), 12, 0x10), { contentEncoding: 'gzip' }),
  proto('gzip, deflate block type 3 in protobuf', Buffer.concat([protoGzip.subarray(0, 10), pb.raw('07'), Buffer.alloc(8)]), { contentEncoding: 'gzip' }),
];
