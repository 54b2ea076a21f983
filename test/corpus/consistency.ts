/**
 * Named short sequences of pushes, one per rule of a checked Pushgateway 1.5.1's consistency
 * check, each step with the answer the real binary gave (its status class, and whether the step
 * left it poisoned: GET /metrics 500 from then on). Recorded by running every case against a fresh
 * `prometheus-pushgateway` 1.5.1; test/behaviour/judge-oracle.test.ts checks that the binary
 * still answers so, then holds the judge to it. Where a case's name surprises, the binary is the
 * reason: its answer is the rule.
 *
 * Sources of the rules: pushgateway v1.5.1 storage/diskmetricstore.go (checkWriteRequest,
 * processWriteRequest, setPushFailedTimestamp, sanitizeLabels, GetMetricFamilies) and
 * client_golang v1.14.0 prometheus/registry.go (Gatherers.Gather, checkSuffixCollisions,
 * checkMetricConsistency).
 */
import { deleteStep, protoStep, textStep, type PushStep, type StatusClass } from '../helpers/push-sequence.js';
import type { ProtoFamily, ProtoType, ValueField } from '../helpers/protobuf-families.js';

export interface CorpusStep {
  readonly step: PushStep;
  readonly expect: StatusClass;
  /** The step left the reference's scrape broken (see `poison`). */
  readonly poisons?: true;
}

export interface ConsistencyCase {
  readonly name: string;
  /** Where the rule comes from. */
  readonly rule: string;
  readonly steps: readonly CorpusStep[];
}

const ok: StatusClass = '2xx';
const refused: StatusClass = '4xx';

function put(path: string, body: string | readonly ProtoFamily[], expect: StatusClass): CorpusStep {
  return { step: typeof body === 'string' ? textStep('PUT', path, body) : protoStep('PUT', path, body), expect };
}

function post(path: string, body: string | readonly ProtoFamily[], expect: StatusClass): CorpusStep {
  return { step: typeof body === 'string' ? textStep('POST', path, body) : protoStep('POST', path, body), expect };
}

function del(path: string): CorpusStep {
  return { step: deleteStep(path), expect: ok };
}

/**
 * A push after which the reference's scrape is broken: refused (400) yet stored, so that its
 * groups are inconsistent and GET /metrics answers 500; or accepted, and its GET /metrics answers
 * 200 with an exposition a Prometheus 2.42 scrape fails on whole (`up` 0: 'label name "le" is not
 * unique', 'expected metric name after TYPE', 'invalid metric type ""').
 */
function poison(step: CorpusStep): CorpusStep {
  return { ...step, poisons: true };
}

/** One family of one sample in the text format. */
function typed(name: string, type: string, labels = '', help?: string): string {
  const helpLine = help === undefined ? '' : `# HELP ${name} ${help}\n`;
  switch (type) {
    case 'summary':
      return `${helpLine}# TYPE ${name} summary\n${name}{${labels}${labels === '' ? '' : ','}quantile="0.5"} 1\n${name}_sum{${labels}} 2\n${name}_count{${labels}} 3\n`;
    case 'histogram':
      return `${helpLine}# TYPE ${name} histogram\n${name}_bucket{${labels}${labels === '' ? '' : ','}le="+Inf"} 3\n${name}_sum{${labels}} 2\n${name}_count{${labels}} 3\n`;
    default:
      return `${helpLine}# TYPE ${name} ${type}\n${name}${labels === '' ? '' : `{${labels}}`} 1\n`;
  }
}

function pb(
  name: string,
  type: ProtoType | undefined,
  metrics: ReadonlyArray<{ labels?: Array<[string, string | Buffer]>; fields: ValueField[]; timestampMs?: number }>,
  help?: string,
): ProtoFamily {
  return {
    name,
    ...(type === undefined ? {} : { type }),
    ...(help === undefined ? {} : { help }),
    metrics: metrics.map((m) => ({ ...m, value: 1 })),
  };
}

const GATHER = 'client_golang v1.14.0 registry.go Gatherers.Gather';
const SUFFIX = 'client_golang v1.14.0 registry.go checkSuffixCollisions';
const CONSISTENCY = 'client_golang v1.14.0 registry.go checkMetricConsistency';
const PROCESS = 'pushgateway v1.5.1 diskmetricstore.go processWriteRequest';
const FAILED = 'pushgateway v1.5.1 diskmetricstore.go setPushFailedTimestamp';
const SANITIZE = 'pushgateway v1.5.1 diskmetricstore.go sanitizeLabels';
const CHECK = 'pushgateway v1.5.1 diskmetricstore.go checkWriteRequest';

export const CONSISTENCY_CASES: readonly ConsistencyCase[] = [
  // --- one type per name across groups
  {
    name: 'a counter where another group has a gauge of that name is refused',
    rule: CONSISTENCY + ' (value field vs the merged family type)',
    steps: [put('/metrics/job/a', typed('foo', 'gauge'), ok), put('/metrics/job/b', typed('foo', 'counter'), refused)],
  },
  {
    name: 'an untyped sample where another group has a gauge is refused',
    rule: CONSISTENCY,
    steps: [put('/metrics/job/a', typed('foo', 'gauge'), ok), put('/metrics/job/b', 'foo 1\n', refused)],
  },
  {
    name: 'a summary where another group has a histogram is refused',
    rule: CONSISTENCY,
    steps: [put('/metrics/job/a', typed('foo', 'histogram'), ok), put('/metrics/job/b', typed('foo', 'summary'), refused)],
  },
  {
    name: 'the same type in two groups is accepted',
    rule: GATHER,
    steps: [put('/metrics/job/a', typed('foo', 'counter'), ok), put('/metrics/job/b', typed('foo', 'counter'), ok)],
  },
  {
    name: 'a type change within one group by PUT is accepted',
    rule: PROCESS + ' (Replace drops the group first)',
    steps: [put('/metrics/job/a', typed('foo', 'gauge'), ok), put('/metrics/job/a', typed('foo', 'counter'), ok)],
  },
  // --- POST replaces the families it names, PUT the whole group
  {
    name: 'POST replaces the family it names, of any type',
    rule: PROCESS,
    steps: [
      put('/metrics/job/a', typed('foo', 'gauge') + typed('bar', 'gauge'), ok),
      post('/metrics/job/a', typed('foo', 'counter'), ok),
      put('/metrics/job/b', typed('foo', 'counter'), ok),
    ],
  },
  {
    name: 'POST keeps the families it does not name',
    rule: PROCESS,
    steps: [
      put('/metrics/job/a', typed('foo', 'gauge') + typed('bar', 'gauge'), ok),
      post('/metrics/job/a', typed('foo', 'counter'), ok),
      put('/metrics/job/b', typed('bar', 'counter'), refused),
    ],
  },
  {
    name: 'PUT drops every family of the group it does not carry',
    rule: PROCESS,
    steps: [
      put('/metrics/job/a', typed('foo', 'gauge') + typed('bar', 'gauge'), ok),
      put('/metrics/job/a', typed('baz', 'gauge'), ok),
      put('/metrics/job/b', typed('bar', 'counter'), ok),
    ],
  },
  {
    name: 'an empty PUT empties the group',
    rule: PROCESS,
    steps: [put('/metrics/job/a', typed('foo', 'gauge'), ok), put('/metrics/job/a', '', ok), put('/metrics/job/b', typed('foo', 'counter'), ok)],
  },
  {
    name: 'an empty POST changes no family',
    rule: PROCESS,
    steps: [put('/metrics/job/a', typed('foo', 'gauge'), ok), post('/metrics/job/a', '', ok), put('/metrics/job/b', typed('foo', 'counter'), refused)],
  },
  {
    name: 'two spellings of one group are one group',
    rule: 'pushgateway v1.5.1 handler/push.go splitLabels, diskmetricstore.go groupingKeyFor',
    steps: [
      put('/metrics/job/a/instance/i1/zone/z1', typed('foo', 'gauge'), ok),
      put('/metrics/job@base64/YQ/zone/z1/instance@base64/aTE', typed('foo', 'counter'), ok),
      put('/metrics/job/b', typed('foo', 'counter'), ok),
    ],
  },
  // --- DELETE
  {
    name: 'DELETE of a group that does not exist is accepted',
    rule: CHECK + ' (a delete always passes)',
    steps: [del('/metrics/job/nothing/instance/here')],
  },
  {
    name: 'a type conflict goes with the group that held it',
    rule: PROCESS + ' (delete)',
    steps: [put('/metrics/job/a', typed('foo', 'gauge'), ok), del('/metrics/job/a'), put('/metrics/job/b', typed('foo', 'counter'), ok)],
  },
  {
    name: 'a deleted group is pushed again with another type',
    rule: PROCESS,
    steps: [
      put('/metrics/job/a', typed('foo', 'gauge'), ok),
      del('/metrics/job/a'),
      put('/metrics/job/a', typed('foo', 'counter'), ok),
      put('/metrics/job/b', typed('foo', 'gauge'), refused),
    ],
  },
  {
    name: 'DELETE removes only the group it names, not its supersets',
    rule: PROCESS,
    steps: [put('/metrics/job/a/instance/i1', typed('foo', 'gauge'), ok), del('/metrics/job/a'), put('/metrics/job/b', typed('foo', 'counter'), refused)],
  },
  // --- the names a summary's or histogram's samples take
  {
    name: 'a gauge foo_count where another group has a summary foo is refused',
    rule: SUFFIX,
    steps: [put('/metrics/job/a', typed('foo', 'summary'), ok), put('/metrics/job/b', typed('foo_count', 'gauge'), refused)],
  },
  {
    name: 'a summary foo where another group has a gauge foo_sum is refused',
    rule: SUFFIX,
    steps: [put('/metrics/job/a', typed('foo_sum', 'gauge'), ok), put('/metrics/job/b', typed('foo', 'summary'), refused)],
  },
  {
    name: 'a counter foo_bucket where another group has a histogram foo is refused',
    rule: SUFFIX,
    steps: [put('/metrics/job/a', typed('foo', 'histogram'), ok), put('/metrics/job/b', typed('foo_bucket', 'counter'), refused)],
  },
  {
    name: 'a histogram foo where another group has a gauge foo_bucket is refused',
    rule: SUFFIX,
    steps: [put('/metrics/job/a', typed('foo_bucket', 'gauge'), ok), put('/metrics/job/b', typed('foo', 'histogram'), refused)],
  },
  {
    name: 'a histogram foo where another group has an untyped foo_count is refused',
    rule: SUFFIX,
    steps: [put('/metrics/job/a', 'foo_count 1\n', ok), put('/metrics/job/b', typed('foo', 'histogram'), refused)],
  },
  {
    name: 'a gauge foo_bucket beside a summary foo is accepted',
    rule: SUFFIX + ' (_bucket only collides with a histogram)',
    steps: [put('/metrics/job/a', typed('foo', 'summary'), ok), put('/metrics/job/b', typed('foo_bucket', 'gauge'), ok)],
  },
  {
    name: 'a summary foo beside a gauge foo_bucket is accepted',
    rule: SUFFIX,
    steps: [put('/metrics/job/a', typed('foo_bucket', 'gauge'), ok), put('/metrics/job/b', typed('foo', 'summary'), ok)],
  },
  {
    name: 'a gauge foo_count beside a counter foo is accepted',
    rule: SUFFIX + ' (only summaries and histograms own suffixes)',
    steps: [put('/metrics/job/a', typed('foo', 'counter'), ok), put('/metrics/job/b', typed('foo_count', 'gauge'), ok)],
  },
  {
    name: 'POST of foo_sum into the group holding a histogram foo is refused',
    rule: SUFFIX,
    steps: [put('/metrics/job/a', typed('foo', 'histogram'), ok), post('/metrics/job/a', typed('foo_sum', 'gauge'), refused)],
  },
  {
    name: 'PUT replacing a histogram foo by foo_sum in its own group is accepted',
    rule: PROCESS + ', ' + SUFFIX,
    steps: [put('/metrics/job/a', typed('foo', 'histogram'), ok), put('/metrics/job/a', typed('foo_sum', 'gauge'), ok)],
  },
  {
    name: 'a summary and its own _count in one protobuf push collide',
    rule: SUFFIX,
    steps: [put('/metrics/job/a', [pb('foo', 'SUMMARY', [{ fields: ['summary'] }]), pb('foo_count', 'GAUGE', [{ fields: ['gauge'] }])], refused)],
  },
  // --- series identities across groups, once the group's labels are applied
  {
    name: 'a body instance label that names another group duplicates its series',
    rule: CONSISTENCY + ' (series hash), ' + SANITIZE,
    steps: [put('/metrics/job/a/instance/i1', typed('foo', 'gauge'), ok), put('/metrics/job/a', typed('foo', 'gauge', 'instance="i1"'), refused)],
  },
  {
    name: 'a group whose series another group already pushed with its labels is refused, and created',
    rule: CONSISTENCY + ', ' + FAILED,
    steps: [
      put('/metrics/job/a', typed('foo', 'gauge', 'zone="z1"'), ok),
      put('/metrics/job/a/zone/z1', typed('foo', 'gauge'), refused),
      // The refused push created {job="a",zone="z1"}: its twin with an explicit empty instance duplicates its push times.
      poison(put('/metrics/job/a/zone/z1/instance@base64/=', typed('bar', 'gauge'), refused)),
    ],
  },
  {
    name: 'a grouping label overwrites a body label into another group series',
    rule: SANITIZE,
    steps: [
      put('/metrics/job/a/instance/i1/zone/z1', typed('foo', 'gauge'), ok),
      put('/metrics/job/a/zone/z1', typed('foo', 'gauge', 'instance="i1",zone="z2"'), refused),
    ],
  },
  {
    name: 'a body job label is overwritten, so two samples become one series',
    rule: SANITIZE + ', ' + CONSISTENCY,
    steps: [put('/metrics/job/a', '# TYPE foo gauge\nfoo{job="b"} 1\nfoo 2\n', refused)],
  },
  {
    name: 'an explicit empty instance equals the one the Pushgateway adds',
    rule: SANITIZE + ', ' + CONSISTENCY,
    steps: [put('/metrics/job/a', '# TYPE foo gauge\nfoo{instance=""} 1\nfoo 2\n', refused)],
  },
  {
    name: 'two samples of one series in one push are refused',
    rule: CONSISTENCY,
    steps: [put('/metrics/job/a', '# TYPE foo gauge\nfoo{a="1"} 1\nfoo{a="1"} 2\n', refused)],
  },
  {
    name: 'summary lines of one label set join one summary',
    rule: 'common v0.37.0 expfmt text_parse.go (summaries by label signature)',
    steps: [put('/metrics/job/a', '# TYPE foo summary\nfoo{quantile="0.5"} 1\nfoo{quantile="0.9"} 2\nfoo_sum 3\nfoo_count 4\n', ok)],
  },
  {
    name: 'an empty body label value is a series of its own to the Pushgateway',
    rule: CONSISTENCY + ' (the hash covers empty values)',
    steps: [put('/metrics/job/a', '# TYPE foo gauge\nfoo{x=""} 1\nfoo 2\n', ok)],
  },
  {
    name: 'an empty grouping-label value names a group apart whose series do not collide',
    rule: CONSISTENCY + ', ' + SANITIZE,
    steps: [
      put('/metrics/job/a', typed('foo', 'gauge'), ok),
      put('/metrics/job/a/zone@base64/=', typed('foo', 'gauge'), ok),
      put('/metrics/job/b', typed('foo', 'counter'), refused),
    ],
  },
  {
    name: 'a body label equal to an empty grouping label is overwritten to the same series',
    rule: SANITIZE,
    steps: [put('/metrics/job/a/zone@base64/=', typed('foo', 'gauge'), ok), put('/metrics/job/a', typed('foo', 'gauge', 'zone=""'), refused)],
  },
  // --- the first poison push: grouping labels equal another group's once instance="" is added
  {
    name: 'poison: a push to {instance=""} beside the group without it',
    rule: FAILED + ' stores a refused push; ' + SANITIZE + ' adds instance=""',
    steps: [put('/metrics/job/a', typed('foo', 'gauge'), ok), poison(put('/metrics/job/a/instance@base64/=', typed('bar', 'gauge'), refused))],
  },
  {
    name: 'poison: a push to the group without instance beside {instance=""}',
    rule: FAILED + ', ' + SANITIZE,
    steps: [put('/metrics/job/a/instance@base64/=', typed('foo', 'gauge'), ok), poison(post('/metrics/job/a', typed('bar', 'gauge'), refused))],
  },
  {
    name: 'poison: an empty POST to {instance=""} beside the group without it',
    rule: FAILED + ', ' + SANITIZE,
    steps: [put('/metrics/job/a', '', ok), poison(post('/metrics/job/a/instance@base64/=', '', refused))],
  },
  {
    name: 'poison: a timestamped push to {instance=""} beside the group without it',
    rule: CHECK + ' (errTimestamp), ' + FAILED,
    steps: [
      put('/metrics/job/a', typed('foo', 'gauge'), ok),
      poison(put('/metrics/job/a/instance@base64/=', '# TYPE foo gauge\nfoo 1 1700000000000\n', refused)),
    ],
  },
  {
    name: 'a refused push to a new group creates it',
    rule: FAILED,
    steps: [
      put('/metrics/job/a', typed('foo', 'gauge'), ok),
      put('/metrics/job/b', typed('foo', 'counter'), refused),
      poison(put('/metrics/job/b/instance@base64/=', typed('bar', 'gauge'), refused)),
    ],
  },
  // --- the second poison push: a pushed push_failure_time_seconds survives in an existing group
  {
    name: 'a push_failure_time_seconds pushed to a new group is replaced by the Pushgateway own',
    rule: PROCESS + ' (sets the zero failure gauge when the group has none)',
    steps: [put('/metrics/job/a', typed('push_failure_time_seconds', 'counter'), ok), put('/metrics/job/b', typed('foo', 'gauge'), ok)],
  },
  {
    name: 'poison: a counter push_failure_time_seconds kept in an existing group, then any new group',
    rule: PROCESS + ' (keeps a pushed failure family when the group has one), ' + FAILED,
    steps: [
      put('/metrics/job/a', typed('foo', 'gauge'), ok),
      post('/metrics/job/a', typed('push_failure_time_seconds', 'counter'), ok),
      poison(put('/metrics/job/b', typed('foo', 'gauge'), refused)),
    ],
  },
  {
    name: 'a counter push_failure_time_seconds kept in a group is refused when another group exists',
    rule: PROCESS + ', ' + CONSISTENCY,
    steps: [
      put('/metrics/job/a', typed('foo', 'gauge'), ok),
      put('/metrics/job/b', typed('foo', 'gauge'), ok),
      post('/metrics/job/a', typed('push_failure_time_seconds', 'counter'), refused),
    ],
  },
  {
    name: 'poison: a push_failure_time_seconds with another group labels, then that group',
    rule: PROCESS + ', ' + FAILED,
    steps: [
      put('/metrics/job/a', typed('foo', 'gauge'), ok),
      post('/metrics/job/a', typed('push_failure_time_seconds', 'gauge', 'instance="i1"'), ok),
      poison(put('/metrics/job/a/instance/i1', typed('bar', 'gauge'), refused)),
    ],
  },
  {
    name: 'a pushed push_time_seconds is always replaced by the Pushgateway own',
    rule: PROCESS + ' (push_time_seconds set from the write)',
    steps: [
      put('/metrics/job/a', typed('push_time_seconds', 'counter', 'instance="i1"'), ok),
      post('/metrics/job/a', typed('push_time_seconds', 'counter', 'instance="i1"'), ok),
      put('/metrics/job/a/instance/i1', typed('foo', 'gauge'), ok),
    ],
  },
  // --- the Pushgateway's own families (DefaultGatherer, gatherer #1)
  {
    name: 'a gauge go_goroutines is accepted beside the Pushgateway own',
    rule: GATHER + ' (labels differ from the own series)',
    steps: [put('/metrics/job/a', typed('go_goroutines', 'gauge'), ok)],
  },
  {
    name: 'a counter go_goroutines is refused: the Pushgateway own is a gauge',
    rule: GATHER + ' (type across gatherers)',
    steps: [put('/metrics/job/a', typed('go_goroutines', 'counter'), refused)],
  },
  {
    name: 'a go_goroutines with another help is accepted: the own help replaces it',
    rule: 'pushgateway v1.5.1 diskmetricstore.go GetMetricFamilies (predefinedHelp)',
    steps: [
      put('/metrics/job/a', typed('go_goroutines', 'gauge', '', 'not the help of the Pushgateway'), ok),
      put('/metrics/job/b', typed('go_goroutines', 'gauge', '', 'another'), ok),
    ],
  },
  {
    name: 'a go_gc_duration_seconds_count of any type collides with the own summary',
    rule: SUFFIX,
    steps: [
      put('/metrics/job/a', typed('go_gc_duration_seconds_count', 'gauge'), refused),
      put('/metrics/job/a', typed('go_gc_duration_seconds_count', 'summary'), refused),
    ],
  },
  {
    name: 'a summary go_gc_duration_seconds with another help is accepted',
    rule: GATHER + ', GetMetricFamilies (predefinedHelp)',
    steps: [put('/metrics/job/a', typed('go_gc_duration_seconds', 'summary', '', 'mine'), ok)],
  },
  {
    name: 'a family named like a Pushgateway own one registered after start must carry its help',
    rule: GATHER + ' (help across gatherers; predefinedHelp only holds the families present at start)',
    steps: [
      // The Pushgateway registers its push-size summary at its first push: make sure there was one.
      put('/metrics/job/a', typed('bar', 'gauge'), ok),
      put('/metrics/job/a', typed('pushgateway_http_push_size_bytes', 'summary', '', 'mine'), refused),
      put('/metrics/job/a', typed('pushgateway_http_push_size_bytes', 'summary', '', 'HTTP request size for pushes to the Pushgateway.'), ok),
    ],
  },
  // --- timestamps
  {
    name: 'a timestamp refuses the push',
    rule: CHECK + ' (errTimestamp)',
    steps: [put('/metrics/job/a', '# TYPE foo gauge\nfoo 1 1700000000000\n', refused), post('/metrics/job/a', '# TYPE foo gauge\nfoo 1 -1\n', refused)],
  },
  {
    name: 'a timestamp in protobuf refuses the push',
    rule: CHECK + ' (errTimestamp)',
    steps: [put('/metrics/job/a', [pb('foo', 'GAUGE', [{ fields: ['gauge'], timestampMs: 1 }])], refused)],
  },
  {
    name: 'a timestamped push to an existing group keeps its families',
    rule: CHECK + ', ' + FAILED,
    steps: [
      put('/metrics/job/a', typed('foo', 'gauge'), ok),
      put('/metrics/job/a', '# TYPE bar gauge\nbar 1 5\n', refused),
      put('/metrics/job/b', typed('foo', 'counter'), refused),
    ],
  },
  // --- help
  {
    name: 'different help for one name in two groups is accepted',
    rule: 'pushgateway v1.5.1 GetMetricFamilies (first help wins, only logged)',
    steps: [
      put('/metrics/job/a', typed('foo', 'gauge', '', 'one'), ok),
      put('/metrics/job/b', typed('foo', 'gauge', '', 'two'), ok),
      put('/metrics/job/c', typed('foo', 'gauge'), ok),
    ],
  },
  // --- what only protobuf can say
  {
    name: 'a protobuf gauge family whose metric holds a counter is refused',
    rule: CONSISTENCY + ' (value field vs type)',
    steps: [put('/metrics/job/a', [pb('foo', 'GAUGE', [{ fields: ['counter'] }])], refused)],
  },
  {
    name: 'a protobuf metric with no value is refused',
    rule: CONSISTENCY,
    steps: [put('/metrics/job/a', [pb('foo', 'UNTYPED', [{ fields: [] }])], refused)],
  },
  {
    name: 'a protobuf metric with its own value field and another is accepted',
    rule: CONSISTENCY + ' (only the type own field is looked at)',
    steps: [put('/metrics/job/a', [pb('foo', 'GAUGE', [{ fields: ['gauge', 'counter'] }])], ok)],
  },
  {
    name: 'a protobuf family without a type is a counter',
    rule: 'client_model v0.3.0 (proto2 default COUNTER = 0), ' + CONSISTENCY,
    steps: [put('/metrics/job/a', [pb('foo', undefined, [{ fields: ['counter'] }])], ok), put('/metrics/job/b', typed('foo', 'gauge'), refused)],
  },
  {
    name: 'of two protobuf families of one name the later wins',
    rule: 'pushgateway v1.5.1 handler/push.go (families by name)',
    steps: [
      put('/metrics/job/a', typed('foo', 'gauge'), ok),
      put('/metrics/job/b', [pb('foo', 'GAUGE', [{ fields: ['gauge'] }]), pb('foo', 'COUNTER', [{ fields: ['counter'] }])], refused),
      put('/metrics/job/c', [pb('foo', 'COUNTER', [{ fields: ['counter'] }]), pb('foo', 'GAUGE', [{ fields: ['gauge'] }])], ok),
    ],
  },
  {
    name: 'a protobuf summary with an explicit quantile label is refused',
    rule: CONSISTENCY,
    steps: [put('/metrics/job/a', [pb('foo', 'SUMMARY', [{ labels: [['quantile', '0.5']], fields: ['summary'] }])], refused)],
  },
  {
    name: 'poison: a protobuf histogram with an explicit le label is accepted into the scrape',
    rule: CONSISTENCY + ' (v1.14.0 checks quantile only; Prometheus then finds le twice per bucket)',
    steps: [poison(put('/metrics/job/a', [pb('foo', 'HISTOGRAM', [{ labels: [['le', '1']], fields: ['histogram'] }])], ok))],
  },
  {
    name: 'a protobuf label name that is not a label name is refused',
    rule: CONSISTENCY + ' (checkLabelName)',
    steps: [put('/metrics/job/a', [pb('foo', 'GAUGE', [{ labels: [['a-b', '1']], fields: ['gauge'] }])], refused)],
  },
  {
    name: 'poison: a protobuf metric name that is not a metric name is accepted into the scrape',
    rule: GATHER + ' (names go unchecked; the text exposition then does not parse)',
    steps: [poison(put('/metrics/job/a', [pb('0-foo', 'GAUGE', [{ fields: ['gauge'] }])], ok))],
  },
  {
    name: 'a protobuf label value that is not utf8 is refused',
    rule: CONSISTENCY + ' (utf8.ValidString)',
    steps: [put('/metrics/job/a', [pb('foo', 'GAUGE', [{ labels: [['a', Buffer.from([0xff])]], fields: ['gauge'] }])], refused)],
  },
  {
    name: 'a protobuf metric with a label twice is refused',
    rule: CONSISTENCY + ' (two or more labels with the same name)',
    steps: [
      put(
        '/metrics/job/a',
        [
          pb('foo', 'GAUGE', [
            {
              labels: [
                ['a', '1'],
                ['a', '2'],
              ],
              fields: ['gauge'],
            },
          ]),
        ],
        refused,
      ),
    ],
  },
  {
    name: 'a protobuf family without metrics still collides by its name',
    rule: SUFFIX + ' (checked before the metrics, for every family)',
    steps: [put('/metrics/job/a', typed('foo', 'summary'), ok), put('/metrics/job/b', [pb('foo_count', 'GAUGE', [])], refused)],
  },
  {
    name: 'poison: a protobuf gauge histogram is accepted and cuts the scrape short',
    rule: SUFFIX + ' (SUMMARY and HISTOGRAM only); common v0.37.0 text_create.go (no text for GAUGE_HISTOGRAM)',
    steps: [put('/metrics/job/a', typed('bar', 'gauge'), ok), poison(put('/metrics/job/b', [pb('foo', 'GAUGE_HISTOGRAM', [{ fields: ['histogram'] }])], ok))],
  },
  {
    name: 'poison: a text gauge_histogram sample is accepted and cuts the scrape short',
    rule: 'common v0.37.0 text_parse.go readingValue (its "unexpected type" error is overwritten by the next read)',
    steps: [put('/metrics/job/a', typed('bar', 'gauge'), ok), poison(put('/metrics/job/b', '# TYPE foo gauge_histogram\nfoo 1\n', ok))],
  },
  {
    name: 'poison: a gauge histogram beside a histogram of its name breaks scrapes at random',
    rule: 'pushgateway v1.5.1 GetMetricFamilies (the first group in Go map order gives the merged type), ' + CONSISTENCY,
    steps: [
      put('/metrics/job/a', typed('foo', 'histogram'), ok),
      poison(put('/metrics/job/b', [pb('foo', 'GAUGE_HISTOGRAM', [{ fields: ['histogram'] }])], ok)),
    ],
  },
  // --- parse errors are answered before the store is looked at
  {
    name: 'a text parse error is refused and creates no group',
    rule: 'pushgateway v1.5.1 handler/push.go (400 before SubmitWriteRequest)',
    steps: [
      put('/metrics/job/a', typed('foo', 'gauge'), ok),
      put('/metrics/job/a/instance@base64/=', '# TYPE foo bogus\n', refused),
      put('/metrics/job/b', typed('foo', 'gauge'), ok),
    ],
  },
  {
    name: 'a cut protobuf frame is refused and creates no group',
    rule: 'matttproud/golang_protobuf_extensions v1.0.4 pbutil.ReadDelimited',
    steps: [
      put('/metrics/job/a', typed('foo', 'gauge'), ok),
      { step: protoStep('PUT', '/metrics/job/a/instance@base64/=', [pb('foo', 'GAUGE', [{ fields: ['gauge'] }])], { truncate: true }), expect: refused },
      put('/metrics/job/b', typed('foo', 'gauge'), ok),
    ],
  },
];
