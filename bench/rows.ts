/** One measured setup of the push scenarios, and how the bench prints it. */

export interface Row {
  /** `push` (the setups at --groups) or `judging` (issue 12's rows at each --judge-groups size). */
  section: 'push' | 'judging';
  /** `(a)`…`(d)` in the judging section, '' in the push section. */
  label: string;
  setup: string;
  /** The Pushgateways' flags: `default` (checked) or `no-consistency-check`. */
  flags: string;
  groups: number;
  pushesPerS: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  /** The front door's CPU time per push; undefined without a front door. */
  cpuUsPerPush: number | undefined;
  /** Backends whose scrape (GET /metrics) answered 200 after the run, and how many there were. */
  goodScrapes: number;
  backends: number;
  /** pushes/s against the row's lone Pushgateway of the same run; undefined when it was not measured. */
  vsDirect: number | undefined;
  /** Why the setup could not be measured; the figures are then NaN. */
  failure: string | undefined;
}

/** What `--only` matches: `<setup> <flags>` in the push section, `judging <groups> <label> <setup> <flags>` in the other. */
export function selectorOf(row: Pick<Row, 'section' | 'label' | 'setup' | 'flags' | 'groups'>): string {
  return row.section === 'push' ? `${row.setup} ${row.flags}` : `judging ${row.groups} ${row.label} ${row.setup} ${row.flags}`;
}

export function failedRow(row: Pick<Row, 'section' | 'label' | 'setup' | 'flags' | 'groups'>, err: unknown): Row {
  return {
    ...row,
    pushesPerS: NaN,
    p50Ms: NaN,
    p99Ms: NaN,
    errors: NaN,
    cpuUsPerPush: undefined,
    goodScrapes: NaN,
    backends: NaN,
    vsDirect: undefined,
    failure: err instanceof Error ? err.message.split('\n')[0]! : String(err),
  };
}

const COLUMNS = ['groups', '', 'setup', 'Pushgateway flags', 'pushes', 'p50', 'p99', 'vs (a)', 'fd CPU', 'errors', 'scrapes'];
const WIDTHS = [7, 3, 29, 21, 9, 10, 10, 7, 8, 7, 7];
/** Columns aligned left; the others are figures. */
const LEFT = new Set([1, 2, 3]);

function pad(cells: readonly string[]): string {
  return cells.map((cell, i) => (LEFT.has(i) ? cell.padEnd(WIDTHS[i]!) : cell.padStart(WIDTHS[i]!))).join(' | ');
}

export function formatRow(row: Row): string {
  const head = [String(row.groups), row.label, row.setup, row.flags];
  if (row.failure !== undefined) return `${pad(head)} | failed: ${row.failure}`;
  return pad([
    ...head,
    `${row.pushesPerS.toFixed(0)}/s`,
    `${row.p50Ms.toFixed(2)} ms`,
    `${row.p99Ms.toFixed(2)} ms`,
    row.vsDirect === undefined ? '-' : `${row.vsDirect.toFixed(2)}x`,
    row.cpuUsPerPush === undefined ? '-' : `${row.cpuUsPerPush.toFixed(0)} µs`,
    String(row.errors),
    `${row.goodScrapes}/${row.backends}`,
  ]);
}

export function formatTable(rows: readonly Row[]): string {
  const header = pad(COLUMNS);
  return [header, '-'.repeat(header.length), ...rows.map(formatRow)].join('\n');
}
