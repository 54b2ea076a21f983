/**
 * The page's pure helpers (no DOM, no fetch): the URLs it calls and the texts it computes. A
 * plain ES module so that the browser imports it as it is and test/unit/page.test.ts tests it.
 *
 * Every URL here is relative (no leading `/`): the browser resolves it against the page's own
 * URL, so the page works behind a proxy that serves the front door under a prefix
 * (`https://host/pushring/` — with its trailing slash, or `-/page/app.js` resolves beside it).
 * The first segment is always a fixed word (`metrics`, `api`, `-`), so a `:` in a value cannot
 * make a path read as a scheme.
 */

/** The most groups one list may ask for (core/group-list.ts MAX_GROUPS_LISTED). */
export const MAX_LIMIT = 5000;
export const DEFAULT_LIMIT = 500;

/**
 * One segment pair of a push path. A value that is empty or holds `/` cannot be spelled plainly,
 * and `.` or `..` would be removed by the browser's URL parser (it resolves dot segments, `%2E`
 * included) so that the DELETE would name another group: those go as `@base64` (base64url of the
 * UTF-8, `=` for the empty value, as the Pushgateway documents). Others are percent-encoded.
 */
export function formatSegment(name, value) {
  if (value === '' || value === '.' || value === '..' || value.includes('/')) {
    return `${name}@base64/${value === '' ? '=' : base64url(value)}`;
  }
  return `${name}/${encodeURIComponent(value)}`;
}

function base64url(text) {
  const bytes = new TextEncoder().encode(text);
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
}

/** `DELETE` this path (relative to the page) deletes one group: the job, then its other grouping labels by name. */
export function groupDeletePath(job, labels) {
  let path = 'metrics/' + formatSegment('job', job);
  for (const name of Object.keys(labels).sort()) path += '/' + formatSegment(name, labels[name]);
  return path;
}

/** Whether the admin endpoint would read this job name as a pattern matching other jobs too. */
export function isGlobLike(job) {
  return job.includes('*') || job.includes('?');
}

/** The administrative delete of every group of `job` (a glob to the server), as a dry run or not. */
export function jobDeletePath(job, dryRun) {
  return `api/v1/admin/jobs/${encodeURIComponent(job)}${dryRun ? '?dry_run=true' : ''}`;
}

/** The filter box's text as a job glob: plain text finds the jobs containing it; a text with `*` or `?` is a glob as typed. */
export function filterGlob(text) {
  const t = text.trim();
  if (t === '') return '*';
  return isGlobLike(t) ? t : `*${t}*`;
}

/** The `limit` a page URL asks for (`/?limit=50`), kept within what the server serves. */
export function limitOf(search) {
  const raw = new URLSearchParams(search).get('limit');
  if (raw === null || !/^\d{1,6}$/.test(raw)) return DEFAULT_LIMIT;
  return Math.min(MAX_LIMIT, Math.max(1, Number(raw)));
}

export function groupsUrl(text, limit) {
  return `-/api/groups?${new URLSearchParams({ job: filterGlob(text), limit: String(limit) }).toString()}`;
}

/**
 * The groups heading: the job glob of the list the table shows (`shown`, null when it shows none),
 * and when the refresh just made asked for another (`asked`: the filter changed, and that read
 * failed or was busy), a plain word that the rows are still the earlier filter's, so that no row
 * and its Delete buttons sit under a filter they do not answer.
 */
export function groupsTitle(asked, shown) {
  if (shown === null || shown === asked) return `Groups (job ${asked})`;
  return `Groups (job ${shown}): still the list for job ${shown}, as the list for job ${asked} could not be read`;
}

/** An age in seconds as people read it: `42s`, `3m 5s`, `2h 10m`, `4d 3h`; negative (clock skew) is `0s`. */
export function formatAge(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

/** `name="value"` pairs of a group's labels, in name order, for showing (as text, never markup). */
export function labelPairs(labels) {
  return Object.keys(labels)
    .sort()
    .map((name) => `${name}=${JSON.stringify(labels[name])}`);
}

/** What the list note says: every group, or the first N of M. */
export function listNote(shown, matched) {
  if (matched > shown) return `Showing the first ${shown} of ${matched} matching groups; narrow the filter to see others.`;
  return `${matched} matching group${matched === 1 ? '' : 's'}.`;
}

/** The reads' answer naming a busy front door (src/http/errors.ts): retried at the next refresh. */
export const READS_BUSY = 'PUSHRING_READS_BUSY';

/**
 * What the page says when some of its reads failed, and whether it stops refreshing on its own.
 * `failures`: one `{ path, status, code, problem }` per failed read (`status` 0 when the request got no
 * answer, `code` the `X-Pushring-Error` header or '', `problem` the status and the server's
 * words). A refused credential (401, 403) stops the timer: refreshing would only repeat the
 * refusal (and the browser's password prompt) every few seconds; pasting a token, the filter or a
 * reload refreshes again. A busy front door (503 PUSHRING_READS_BUSY) is transient: the data
 * shown stays, and the next regular refresh tries again, so the retries are one per refresh.
 * Returns null when nothing failed.
 */
export function readsProblem(failures, hasToken, refreshSeconds) {
  if (failures.length === 0) return null;
  const refused = failures.find((f) => f.status === 401) ?? failures.find((f) => f.status === 403);
  if (refused !== undefined) {
    const advice =
      refused.status === 401
        ? hasToken
          ? 'the bearer token in use was not accepted: paste another above, or sign in with basic credentials (reload the page for the browser to ask)'
          : 'paste a bearer token above, or sign in with basic credentials (reload the page for the browser to ask)'
        : 'the credential in use may not read (it needs the read scope): paste a token that may above, or sign in with other basic credentials';
    return {
      kind: 'refused',
      pause: true,
      text: `The front door refused to show its data (${refused.problem}): ${advice}. The page does not refresh on its own until then.`,
    };
  }
  const busy = failures.filter((f) => f.status === 503 && f.code === READS_BUSY);
  const others = failures.filter((f) => !(f.status === 503 && f.code === READS_BUSY));
  const busyText =
    busy.length === 0
      ? ''
      : `The front door is busy with other reads (503 ${READS_BUSY}); what is shown may be from an earlier refresh, and the next refresh (in ${refreshSeconds} s) tries again.`;
  if (others.length === 0) return { kind: 'busy', pause: false, text: busyText };
  const othersText = `Could not read: ${others.map((f) => `${f.path}: ${f.problem}`).join(' | ')}`;
  return { kind: 'error', pause: false, text: busyText === '' ? othersText : `${othersText} ${busyText}` };
}
