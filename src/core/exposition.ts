/**
 * A group as the Pushgateway's `/api/v1/metrics` shows it, back into the text exposition format,
 * so that re-pushing it (PUT to the group's path) recreates the same group on another replica:
 * every type (gauge, counter, untyped, summary, histogram), help texts, label values with any
 * character, and NaN/±Inf. Values stay the strings Go printed; its parser reads them back exactly.
 * Pure: the reconciler's copies and the hints' replays go through here.
 */

/** One entry of `data` in `/api/v1/metrics`. */
export interface ApiGroup {
  readonly labels: Readonly<Record<string, string>>;
  readonly last_push_successful?: boolean;
  readonly [family: string]: ApiFamily | Readonly<Record<string, string>> | boolean | undefined;
}

export interface ApiFamily {
  readonly time_stamp?: string;
  readonly type: 'COUNTER' | 'GAUGE' | 'UNTYPED' | 'SUMMARY' | 'HISTOGRAM';
  readonly help?: string;
  readonly metrics: readonly ApiMetric[];
}

export interface ApiMetric {
  readonly labels?: Readonly<Record<string, string>>;
  readonly value?: string;
  readonly quantiles?: Readonly<Record<string, string>>;
  readonly buckets?: Readonly<Record<string, string>>;
  readonly count?: string;
  readonly sum?: string;
}

/**
 * A push every Pushgateway refuses before looking at anything else in it, checked or not: its
 * sample has a timestamp. It records a failed push for the group (push_failure_time_seconds).
 */
export const REFUSED_PUSH_BODY = 'pushring_failed_push 1 1\n';

/** Families the Pushgateway maintains itself; a re-push must not carry them. */
export const PUSHGATEWAY_FAMILIES: ReadonlySet<string> = new Set(['push_time_seconds', 'push_failure_time_seconds']);

/** What a Pushgateway recorded of a group's pushes (times in seconds since the epoch, 0: never). */
export interface PushRecord {
  /** push_time_seconds: the last successful push (or copy). */
  readonly pushTime: number;
  /** push_failure_time_seconds: the last push it refused. */
  readonly failureTime: number;
  /** The last push was refused: the failure is newer than the success. */
  readonly lastPushFailed: boolean;
}

export function pushRecordOf(group: ApiGroup): PushRecord {
  const timeOf = (name: string): number => {
    const family = group[name];
    const value = typeof family === 'object' && family !== null && 'metrics' in family ? (family as ApiFamily).metrics[0]?.value : undefined;
    return Number(value ?? 0) || 0;
  };
  const pushTime = timeOf('push_time_seconds');
  const failureTime = timeOf('push_failure_time_seconds');
  // The Pushgateway's own verdict where it gives one: it compares the exact values.
  const lastPushFailed = group.last_push_successful === undefined ? failureTime > pushTime : !group.last_push_successful;
  return { pushTime, failureTime, lastPushFailed };
}

/** The families of a group, by name (the `labels` and `last_push_successful` keys left out). */
export function familiesOf(group: ApiGroup): Array<[string, ApiFamily]> {
  const out: Array<[string, ApiFamily]> = [];
  for (const [name, value] of Object.entries(group)) {
    if (name === 'labels' || name === 'last_push_successful') continue;
    if (typeof value === 'object' && value !== null && 'metrics' in value) out.push([name, value as ApiFamily]);
  }
  return out.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * The text exposition of a group's pushed families. A family without samples cannot be written
 * in the text format and is left out (only a protobuf push can create one).
 */
export function encodeGroup(group: ApiGroup): string {
  let out = '';
  for (const [name, family] of familiesOf(group)) {
    if (PUSHGATEWAY_FAMILIES.has(name) || family.metrics.length === 0) continue;
    if (family.help !== undefined && family.help !== '') out += `# HELP ${name} ${escapeHelp(family.help)}\n`;
    out += `# TYPE ${name} ${family.type.toLowerCase()}\n`;
    for (const metric of family.metrics) out += encodeMetric(name, family.type, metric);
  }
  return out;
}

function encodeMetric(name: string, type: ApiFamily['type'], metric: ApiMetric): string {
  const labels = metric.labels ?? {};
  switch (type) {
    case 'SUMMARY': {
      let out = '';
      for (const [q, v] of sortedByBound(metric.quantiles ?? {})) out += sample(name, labels, v, 'quantile', q);
      return out + sample(`${name}_sum`, labels, metric.sum ?? '0') + sample(`${name}_count`, labels, metric.count ?? '0');
    }
    case 'HISTOGRAM': {
      let out = '';
      for (const [le, c] of sortedByBound(metric.buckets ?? {})) out += sample(`${name}_bucket`, labels, c, 'le', le);
      return out + sample(`${name}_sum`, labels, metric.sum ?? '0') + sample(`${name}_count`, labels, metric.count ?? '0');
    }
    default:
      return sample(name, labels, metric.value ?? '0');
  }
}

function sample(name: string, labels: Readonly<Record<string, string>>, value: string, extraName?: string, extraValue?: string): string {
  const parts: string[] = [];
  for (const labelName of Object.keys(labels).sort()) {
    const v = labels[labelName]!;
    // An empty value is an absent label in the exposition formats.
    if (v !== '') parts.push(`${labelName}="${escapeLabelValue(v)}"`);
  }
  if (extraName !== undefined) parts.push(`${extraName}="${escapeLabelValue(extraValue!)}"`);
  return `${name}${parts.length > 0 ? `{${parts.join(',')}}` : ''} ${value}\n`;
}

/** Bucket bounds and quantiles in numeric order, `+Inf` last. */
function sortedByBound(entries: Readonly<Record<string, string>>): Array<[string, string]> {
  return Object.entries(entries).sort(([a], [b]) => Number(a) - Number(b));
}

function escapeLabelValue(value: string): string {
  return value.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n');
}

function escapeHelp(help: string): string {
  return help.replaceAll('\\', '\\\\').replaceAll('\n', '\\n');
}
