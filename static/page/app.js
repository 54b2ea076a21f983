/**
 * The page at `/`: reads -/status, -/api/groups and -/api/refusals, renders them, refreshes
 * every REFRESH_MS while the tab is visible (one refresh in flight at a time; a refresh skipped
 * while hidden is made once the tab shows again) and on a filter change (debounced), and
 * deletes a group or a job. Every value a client chose is rendered with textContent, never as
 * markup. The bearer token lives in sessionStorage only and goes in the Authorization header of
 * this page's own requests, never in a URL or a log. Every URL is relative to the page's own
 * (paths.js), so the page works under a proxy's path prefix.
 */
import {
  filterGlob,
  formatAge,
  groupDeletePath,
  groupsTitle,
  groupsUrl,
  isGlobLike,
  jobDeletePath,
  labelPairs,
  limitOf,
  listNote,
  readsProblem,
} from './paths.js';

const REFRESH_MS = 10_000;
const FILTER_DEBOUNCE_MS = 300;
const TOKEN_KEY = 'pushring.token';
/** Groups a job's confirmation lists by name at most (the count covers all). */
const CONFIRM_LISTED = 10;

const limit = limitOf(location.search);
const $ = (id) => document.getElementById(id);

// ----- requests -----

function authHeaders() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { authorization: `Bearer ${token}` } : {};
}

/** The server's own words for a failed answer: its JSON `error`, or the first line of its text. */
async function problemOf(response) {
  const text = await response.text();
  let message = text;
  try {
    const body = JSON.parse(text);
    if (body && typeof body.error === 'string') message = body.error;
  } catch {
    // Not JSON: the text as it came.
  }
  const line = message.split('\n', 1)[0].slice(0, 500);
  return `${response.status} ${response.statusText}${line ? ': ' + line : ''}`;
}

/** A failed read, as paths.js readsProblem takes it. */
class ReadFailure extends Error {
  constructor(path, status, code, problem) {
    super(`${path}: ${problem}`);
    this.failure = { path, status, code, problem };
  }
}

async function getJson(path) {
  let response;
  try {
    response = await fetch(path, { headers: { accept: 'application/json', ...authHeaders() } });
  } catch (err) {
    throw new ReadFailure(path, 0, '', `no answer (${err.message})`);
  }
  if (!response.ok) throw new ReadFailure(path, response.status, response.headers.get('x-pushring-error') ?? '', await problemOf(response));
  return response.json();
}

async function send(method, path) {
  const response = await fetch(path, { method, headers: authHeaders() });
  const text = await response.clone().text();
  let body;
  try {
    body = text === '' ? undefined : JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { ok: response.ok, status: response.status, body, problem: response.ok ? '' : await problemOf(response) };
}

// ----- rendering helpers -----

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function row(cells) {
  const tr = document.createElement('tr');
  for (const cell of cells) {
    const td = document.createElement('td');
    if (cell instanceof Node) td.append(cell);
    else td.textContent = String(cell);
    tr.append(td);
  }
  return tr;
}

function badge(text, kind) {
  return el('span', text, `badge ${kind}`);
}

function timeText(seconds) {
  return seconds === null
    ? 'never'
    : new Date(seconds * 1000)
        .toISOString()
        .replace('T', ' ')
        .replace(/\.\d+Z$/, 'Z');
}

function say(message) {
  $('status').textContent = message;
}

/** The reads' problem, or none: a refusal or an error in red, a busy front door as a notice. */
function showProblem(problem) {
  const node = $('error');
  node.textContent = problem === null ? '' : problem.text;
  node.hidden = problem === null;
  node.className = problem !== null && problem.kind === 'busy' ? 'warning' : 'error';
  node.dataset.kind = problem === null ? '' : problem.kind;
}

/** What a refused read leaves in the tables: their headings, and one line saying why they are empty. */
function clearRefused() {
  $('ring').replaceChildren(el('dt', 'Ring version'), el('dd', 'not shown (the front door refused the read)'));
  for (const id of ['shards', 'groups', 'refusals']) {
    const cell = el('td', undefined, 'refused');
    cell.colSpan = $(id).tHead.rows[0].cells.length;
    cell.append(el('em', 'Not shown: the front door refused to show its data (see above).'));
    const tr = document.createElement('tr');
    tr.append(cell);
    $(id).tBodies[0].replaceChildren(tr);
  }
  $('list-note').textContent = '';
  $('incomplete').hidden = true;
  shownGlob = null;
}

// ----- the ring and its shards -----

function renderRing(status) {
  const facts = [
    ['Ring version', status.ringVersion],
    ['Phase', status.phase === 'dual' ? 'ring change under way (dual)' : 'steady'],
  ];
  const change = status.ringChange;
  if (change) {
    facts.push(['Ring change', change.phase]);
    facts.push(['Stage', change.stage ?? 'unknown here (this front door does not hold the reconcile lease)']);
    facts.push(['Dual writes since', change.since ?? 'not writing both owners']);
    if (change.stageSeenAt) facts.push(['Stage seen at', change.stageSeenAt]);
    facts.push(['Misplaced groups', change.misplaced ?? 'unknown']);
    facts.push(['Unsettled groups', change.unsettled ?? 'unknown']);
  }
  const dl = $('ring');
  dl.replaceChildren();
  for (const [name, value] of facts) dl.append(el('dt', name), el('dd', typeof value === 'object' && value !== null ? JSON.stringify(value) : value));

  const body = $('shards').tBodies[0];
  const rows = document.createDocumentFragment();
  for (const shard of status.shards) {
    shard.replicas.forEach((replica, i) => {
      const first = i === 0;
      const role = el('span', undefined, 'labels');
      role.append(shard.owning ? badge('owning', 'ok') : badge('draining', 'warn'));
      if (!shard.available) role.append(badge('no live replica', 'bad'));
      const tr = row([
        first ? el('strong', shard.name) : '',
        first ? role : '',
        replica.replica,
        el('code', replica.url),
        badge(replica.up ? 'up' : 'down', replica.up ? 'ok' : 'bad'),
        badge(replica.scrape, replica.scrape === 'ok' ? 'ok' : replica.scrape === 'broken' ? 'bad' : 'muted'),
        replica.suspect ? badge('suspect', 'warn') : badge('no', 'muted'),
      ]);
      tr.dataset.shard = shard.name;
      tr.dataset.replica = String(replica.replica);
      tr.dataset.url = replica.url;
      tr.dataset.up = String(replica.up);
      if (first) tr.className = 'shard-start';
      rows.append(tr);
    });
  }
  body.replaceChildren(rows);
}

// ----- groups -----

function renderGroups(list) {
  const nowS = list.now / 1000;
  const body = $('groups').tBodies[0];
  const rows = document.createDocumentFragment();
  for (const group of list.groups) {
    const labels = el('span', undefined, 'labels');
    for (const pair of labelPairs(group.labels)) labels.append(el('code', pair, 'label'));
    const actions = el('span', undefined, 'actions');
    const deleteGroup = el('button', 'Delete group');
    deleteGroup.type = 'button';
    deleteGroup.className = 'danger delete-group';
    deleteGroup.addEventListener('click', () => void onDeleteGroup(group));
    const deleteJob = el('button', 'Delete job');
    deleteJob.type = 'button';
    deleteJob.className = 'danger delete-job';
    deleteJob.addEventListener('click', () => void onDeleteJob(group.job));
    actions.append(deleteGroup, deleteJob);
    const tr = row([
      el('span', group.job, 'job'),
      labels,
      group.shard,
      el('span', timeText(group.lastPush), 'time'),
      el('span', group.lastPush === null ? '' : formatAge(nowS - group.lastPush), 'time'),
      group.failed ? badge(`failed${group.lastFailure === null ? '' : ' at ' + timeText(group.lastFailure)}`, 'bad') : badge('ok', 'ok'),
      actions,
    ]);
    tr.className = group.failed ? 'group failed' : 'group';
    tr.dataset.job = group.job;
    tr.dataset.shard = group.shard;
    rows.append(tr);
  }
  if (list.groups.length === 0) rows.append(row([el('em', 'No group matches.')]));
  body.replaceChildren(rows);
  $('list-note').textContent = listNote(list.groups.length, list.matched);
  const incomplete = $('incomplete');
  if (list.complete) {
    incomplete.hidden = true;
    incomplete.textContent = '';
  } else {
    const shards = list.unreadShards.map((u) => `${u.shard} (${u.reason})`).join('; ');
    incomplete.textContent = `Incomplete: no replica of shard(s) ${shards} could be read; their groups are missing from this list.`;
    incomplete.hidden = false;
  }
}

// ----- refusals -----

function renderRefusals(answer) {
  $('refusals-note').textContent = `Writes this front door refused, newest first (it keeps the last ${answer.capacity}; other front doors keep their own).`;
  const body = $('refusals').tBodies[0];
  const rows = document.createDocumentFragment();
  for (const r of answer.refusals) {
    const tr = row([
      el('span', r.at.replace('T', ' '), 'time'),
      el('code', `${r.method} ${r.path}`),
      r.job ?? '',
      el('span', `${r.status}${r.code ? ' ' + r.code : ''}`),
      r.credential ?? '',
      el('span', r.message, 'message'),
    ]);
    tr.className = 'refusal';
    rows.append(tr);
  }
  if (answer.refusals.length === 0) rows.append(row([el('em', 'None.')]));
  body.replaceChildren(rows);
}

// ----- refreshing: one at a time, again after REFRESH_MS, sooner on a filter change -----

let inFlight = false;
let again = false;
/** Set while the reads are refused: no timer then; the token field, the filter or a reload refresh. */
let paused = false;
/** Set when the timer fell due while the tab was hidden: the tab's return refreshes once. */
let skipped = false;
let timer;
/** The job glob the groups table's rows answer, or null when it shows none (groupsTitle). */
let shownGlob = null;

/** The timer's refresh: none while the tab is hidden (every background tab would read the whole ring). */
function onTimer() {
  if (document.visibilityState === 'hidden') skipped = true;
  else void refresh();
}

document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'hidden' || !skipped) return;
  skipped = false;
  if (!paused) void refresh();
});

async function refresh() {
  if (inFlight) {
    again = true;
    return;
  }
  inFlight = true;
  skipped = false;
  clearTimeout(timer);
  try {
    const asked = filterGlob($('filter').value);
    const [status, list, refusals] = await Promise.allSettled([getJson('-/status'), getJson(groupsUrl($('filter').value, limit)), getJson('-/api/refusals')]);
    if (list.status === 'fulfilled') shownGlob = asked;
    const failures = [];
    for (const [answer, render] of [
      [status, renderRing],
      [list, renderGroups],
      [refusals, renderRefusals],
    ]) {
      if (answer.status === 'fulfilled') render(answer.value);
      else failures.push(answer.reason instanceof ReadFailure ? answer.reason.failure : { path: '', status: 0, code: '', problem: String(answer.reason) });
    }
    const problem = readsProblem(failures, sessionStorage.getItem(TOKEN_KEY) !== null, REFRESH_MS / 1000);
    if (problem !== null && problem.kind === 'refused') clearRefused();
    paused = problem !== null && problem.pause;
    document.body.dataset.refreshed = String(Date.now());
    $('groups-title').textContent = groupsTitle(asked, shownGlob);
    showProblem(problem);
  } finally {
    inFlight = false;
    if (again) {
      again = false;
      void refresh();
    } else if (!paused) timer = setTimeout(onTimer, REFRESH_MS);
  }
}

// ----- deleting -----

async function onDeleteGroup(group) {
  const pairs = labelPairs(group.labels).join(', ');
  const what = `the group of job ${JSON.stringify(group.job)}${pairs ? ' with ' + pairs : ''}`;
  if (!confirm(`Delete ${what} from both replicas of shard ${group.shard}?`)) return;
  const answer = await send('DELETE', groupDeletePath(group.job, group.labels));
  if (answer.ok) say(`Deleted ${what}.`);
  else say(`Could not delete ${what}: ${answer.problem}`);
  void refresh();
}

async function onDeleteJob(job) {
  if (isGlobLike(job)) {
    say(
      `Job ${JSON.stringify(job)} contains * or ?, which the administrative delete reads as a pattern matching other jobs too: delete its groups one by one (Delete group) instead.`,
    );
    return;
  }
  if (job === '.' || job === '..') {
    // The browser's URL parser resolves a dot segment away, so the admin path could not name this job.
    say(`Job ${JSON.stringify(job)} cannot be named in the administrative delete's URL: delete its groups one by one (Delete group) instead.`);
    return;
  }
  const dry = await send('DELETE', jobDeletePath(job, true));
  if (!dry.ok) {
    say(`Could not list the groups of job ${JSON.stringify(job)}: ${dry.problem}`);
    return;
  }
  const report = dry.body;
  const listed = report.groups
    .slice(0, CONFIRM_LISTED)
    .map((g) => labelPairs(g.labels).join(', '))
    .join('\n');
  const more = report.matched > CONFIRM_LISTED ? `\n… and ${report.matched - CONFIRM_LISTED} more` : '';
  if (!confirm(`Delete all ${report.matched} group(s) of job ${JSON.stringify(job)}?\n${listed}${more}`)) {
    say(`Nothing deleted: job ${JSON.stringify(job)} has ${report.matched} group(s).`);
    return;
  }
  const done = await send('DELETE', jobDeletePath(job, false));
  if (done.ok) say(`Deleted ${done.body.deleted} group(s) of job ${JSON.stringify(job)}.`);
  else say(`Could not delete job ${JSON.stringify(job)}: ${done.problem}`);
  void refresh();
}

// ----- the token field -----

function showTokenState() {
  $('token-state').textContent = sessionStorage.getItem(TOKEN_KEY)
    ? 'A token is in use.'
    : 'No token: requests go without one (or with the browser’s basic credentials).';
}

$('token-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const input = $('token');
  const token = input.value.trim();
  if (token === '') sessionStorage.removeItem(TOKEN_KEY);
  else sessionStorage.setItem(TOKEN_KEY, token);
  input.value = '';
  showTokenState();
  void refresh();
});
$('token-forget').addEventListener('click', () => {
  sessionStorage.removeItem(TOKEN_KEY);
  showTokenState();
  void refresh();
});

let debounce;
$('filter').addEventListener('input', () => {
  clearTimeout(debounce);
  debounce = setTimeout(() => void refresh(), FILTER_DEBOUNCE_MS);
});

showTokenState();
void refresh();
