/**
 * The pure parts of answering reads as one Pushgateway holding every group (src/read/): which
 * shard's copy of a group is the one to show, how a replica's text exposition splits into
 * families, and how a series is named so that a copy not to show can be left out of the text.
 *
 * A Pushgateway's GET /metrics (client_golang's expfmt) writes each family once, sorted by name:
 * an optional `# HELP name …`, then `# TYPE name type`, then its series. Merging the replicas'
 * answers family by family (the smallest name first) therefore yields each family once, with one
 * HELP/TYPE, while reading every replica only as fast as the answer is sent.
 */
import { familiesOf, type ApiGroup } from './exposition.js';

/** One line of a replica's text exposition, as the merge sees it. */
export type ExpositionLine =
  | { readonly kind: 'help' | 'type'; readonly family: string; readonly line: string; readonly type?: string }
  | { readonly kind: 'series'; readonly line: string }
  | { readonly kind: 'other' };

/** Classifies one line (without its newline). */
export function classifyLine(line: string): ExpositionLine {
  if (line.startsWith('# HELP ') || line.startsWith('# TYPE ')) {
    const rest = line.slice(7);
    const space = rest.indexOf(' ');
    const family = space === -1 ? rest : rest.slice(0, space);
    if (line.charCodeAt(2) === 0x48) return { kind: 'help', family, line };
    return { kind: 'type', family, line, type: space === -1 ? '' : rest.slice(space + 1).trim() };
  }
  if (line === '' || line.startsWith('#')) return { kind: 'other' };
  return { kind: 'series', line };
}

/** A series line's metric name and labels (values unescaped), or undefined when it does not parse. */
export function parseSeriesLine(line: string): { name: string; labels: [string, string][] } | undefined {
  let i = 0;
  while (i < line.length && line[i] !== '{' && line[i] !== ' ' && line[i] !== '\t') i++;
  const name = line.slice(0, i);
  const labels: [string, string][] = [];
  if (line[i] !== '{') return { name, labels };
  i++;
  while (i < line.length) {
    while (line[i] === ' ' || line[i] === ',') i++;
    if (line[i] === '}') return { name, labels };
    const eq = line.indexOf('=', i);
    if (eq === -1 || line[eq + 1] !== '"') return undefined;
    const label = line.slice(i, eq).trim();
    // The value runs to the first quote not escaped by a backslash.
    let j = eq + 2;
    while (j < line.length && line[j] !== '"') j += line[j] === '\\' ? 2 : 1;
    if (j >= line.length) return undefined;
    labels.push([label, unescapeLabelValue(line.slice(eq + 2, j))]);
    i = j + 1;
  }
  return undefined;
}

function unescapeLabelValue(raw: string): string {
  if (!raw.includes('\\')) return raw;
  return raw.replace(/\\(.)/g, (_m, c: string) => (c === 'n' ? '\n' : c));
}

/** The suffixes a histogram's or summary's series lines carry, and the label that tells its lines apart. */
const SUFFIXES: Readonly<Record<string, { readonly suffixes: readonly string[]; readonly label: string }>> = {
  histogram: { suffixes: ['_bucket', '_sum', '_count'], label: 'le' },
  summary: { suffixes: ['_sum', '_count', ''], label: 'quantile' },
};

/**
 * A series' identity within its family: the family's name and its labels sorted by name, without
 * a histogram's `le` or a summary's `quantile`: the same for a metric of `/api/v1/metrics` and
 * for every text line it becomes.
 */
export function seriesIdentity(family: string, labels: Iterable<readonly [string, string]>): string {
  const sorted = [...labels].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return JSON.stringify([family, ...sorted.flat()]);
}

/** The identity of a text series line of family `family` of type `type` (`# TYPE`), or undefined when it does not parse. */
export function lineIdentity(family: string, type: string, line: string): string | undefined {
  const parsed = parseSeriesLine(line);
  if (parsed === undefined) return undefined;
  const shape = SUFFIXES[type];
  const labels = shape === undefined ? parsed.labels : parsed.labels.filter(([name]) => name !== shape.label);
  return seriesIdentity(family, labels);
}

/** The identities of every series of a group of `/api/v1/metrics`, push_time_seconds and push_failure_time_seconds included. */
export function groupIdentities(group: ApiGroup): string[] {
  const out: string[] = [];
  for (const [name, family] of familiesOf(group)) for (const metric of family.metrics) out.push(seriesIdentity(name, Object.entries(metric.labels ?? {})));
  return out;
}

/**
 * Whether a series line is one of a replica's own (pushgateway_*, go_*, process_*): every series
 * of a pushed group carries the group's `job` label, and none of the Pushgateway's own does. A
 * Go job that pushes its default registry pushes families of the same names, which are kept.
 */
export function isPushedSeries(line: string): boolean {
  const parsed = parseSeriesLine(line);
  return parsed !== undefined && parsed.labels.some(([name]) => name === 'job');
}

/**
 * The shard whose copy of a group is shown: the old owner while this front door writes a ring
 * change in the dual phase (it is written first and is what the change copies from; see
 * docs/resizing.md), the owner under the ring in force otherwise.
 */
export function authoritativeShard(owner: string, previousOwner: string | undefined): string {
  return previousOwner ?? owner;
}

/**
 * The order a shard's replicas are tried in for a read, as indexes into `replicas`: live and
 * trusted first, then live but suspect (it may lack writes it missed: the reconciler has not yet
 * repaired it), then those believed down (a health probe may be behind; one may still answer),
 * trusted before suspect. Configuration order within each rank.
 */
export function readOrder(replicas: readonly { readonly up: boolean; readonly suspect: boolean }[]): number[] {
  const rank = (r: { up: boolean; suspect: boolean }): number => (r.up ? 0 : 2) + (r.suspect ? 1 : 0);
  return replicas.map((_r, i) => i).sort((a, b) => rank(replicas[a]!) - rank(replicas[b]!) || a - b);
}

/**
 * The next family of a merge: the smallest name among the families the sources are at
 * (`undefined`: that source has ended), or undefined when every source has ended. Go sorts
 * family names by byte; names are ASCII, so UTF-16 order is the same.
 */
export function nextFamily(heads: readonly (string | undefined)[]): string | undefined {
  let min: string | undefined;
  for (const head of heads) if (head !== undefined && (min === undefined || head < min)) min = head;
  return min;
}

/** The lines of a stream, without their newlines; a line is held only until it is complete. */
export function createLineSplitter(): { push(chunk: Buffer): string[]; end(): string[] } {
  let rest = '';
  const decoder = new TextDecoder('utf-8');
  return {
    push(chunk) {
      const text = rest + decoder.decode(chunk, { stream: true });
      const lines = text.split('\n');
      rest = lines.pop()!;
      return lines;
    },
    end() {
      const last = rest + decoder.decode();
      rest = '';
      return last === '' ? [] : [last];
    },
  };
}
