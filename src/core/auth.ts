/**
 * Who may do what (config `auth`), as pure functions: the `Authorization` header parsed, a request
 * classified into the action it asks for, a certificate subject matched, and the decision.
 * Secrets are compared elsewhere (auth/credentials.ts, in constant time); nothing here ever puts
 * a presented secret into a problem text.
 */
import { compileGlob, type Glob } from './glob.js';
import { goQuote, parseGroupingPath, type ParseResult } from './grouping-key.js';

/** What an `Authorization` header presents, or why it is malformed (the text never holds the secret). */
export type PresentedCredential =
  | { readonly ok: true; readonly kind: 'bearer'; readonly token: string }
  | { readonly ok: true; readonly kind: 'basic'; readonly username: string; readonly password: string }
  | { readonly ok: false; readonly problem: string };

/** The problems a malformed header gets, one per way to get it wrong. */
export const HEADER_PROBLEMS = {
  empty: 'the Authorization header is empty',
  nonAscii: 'the Authorization header holds characters that are not printable ASCII',
  noCredentials: 'the Authorization header has a scheme but no credentials after it',
  spaces: 'the Authorization header has more than one space between its scheme and its credentials',
  scheme: 'the Authorization scheme is neither Bearer nor Basic',
  tokenSpace: 'the bearer token holds a space',
  base64: 'the basic credentials are not valid base64',
  utf8: 'the basic credentials are not valid UTF-8',
  colon: "the basic credentials have no ':' between the user name and the password",
  emptyUser: 'the basic credentials have an empty user name',
} as const;

const SPACE = 0x20;

/**
 * Parses `Bearer <token>` (RFC 6750) or `Basic <base64 user:pass>` (RFC 7617), the scheme in any
 * case. Exactly one space after the scheme; a bearer token is any printable ASCII without a space
 * (operators' tokens are not always b64token), a basic password may be empty.
 */
export function parseAuthorization(value: string): PresentedCredential {
  if (value.trim() === '') return problem('empty');
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < SPACE || c > 0x7e) return problem('nonAscii');
  }
  const space = value.indexOf(' ');
  if (space === -1 || space === value.length - 1) return problem('noCredentials');
  if (value.charCodeAt(space + 1) === SPACE) return problem('spaces');
  const scheme = value.slice(0, space).toLowerCase();
  const rest = value.slice(space + 1);
  if (scheme === 'bearer') {
    if (rest.indexOf(' ') !== -1) return problem('tokenSpace');
    return { ok: true, kind: 'bearer', token: rest };
  }
  if (scheme !== 'basic') return problem('scheme');
  if (!isBase64(rest)) return problem('base64');
  const bytes = Buffer.from(rest, 'base64');
  let decoded: string;
  try {
    decoded = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return problem('utf8');
  }
  const colon = decoded.indexOf(':');
  if (colon === -1) return problem('colon');
  if (colon === 0) return problem('emptyUser');
  return { ok: true, kind: 'basic', username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

function problem(which: keyof typeof HEADER_PROBLEMS): PresentedCredential {
  return { ok: false, problem: HEADER_PROBLEMS[which] };
}

/** Standard base64 with its padding, as RFC 7617 asks (Buffer.from would accept anything). */
function isBase64(s: string): boolean {
  if (s.length % 4 !== 0) return false;
  let end = s.length;
  if (s.charCodeAt(end - 1) === 0x3d) end--;
  if (s.charCodeAt(end - 1) === 0x3d) end--;
  for (let i = 0; i < end; i++) {
    const c = s.charCodeAt(i);
    const ok = (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2b || c === 0x2f;
    if (!ok) return false;
  }
  return true;
}

/** What a request asks to do. `read` also stands for every request that is none of the others. */
export type Action =
  | { readonly kind: 'open' }
  | { readonly kind: 'push'; readonly job: string }
  | { readonly kind: 'delete'; readonly job: string }
  | { readonly kind: 'admin' }
  | { readonly kind: 'read' };

/**
 * Open to anyone: the health probes, and the page's files (http/page.ts), which hold no data: a
 * browser must load the page, and its token field, before it has any credential. The data the
 * page shows comes from reads (`/-/api/*`, `/-/status`), which stay behind the read scope.
 */
export const OPEN_PATHS: ReadonlySet<string> = new Set(['/-/healthy', '/-/ready', '/', '/-/page/app.js', '/-/page/paths.js', '/-/page/style.css']);

/**
 * Path prefixes of administrative endpoints (compared case-insensitively, after percent-decoding).
 * A later issue's administrative endpoint is one more entry.
 */
export const ADMIN_PREFIXES: readonly string[] = ['/api/v1/admin'];

/**
 * Classifies a request by method and URL. Push paths go through the push route's own parser, so
 * auth and the route agree on the job; a push path that does not parse is `read`, and the route
 * then gives its Go-compatible answer (400, 301, 405) to whoever may read.
 */
export function classifyRequest(method: string, url: string, parsePath: () => ParseResult = () => parseGroupingPath(url)): Action {
  const query = url.indexOf('?');
  const path = query === -1 ? url : url.slice(0, query);
  if (OPEN_PATHS.has(path)) return { kind: 'open' };
  if (isAdminPath(path)) return { kind: 'admin' };
  if (method === 'PUT' || method === 'POST' || method === 'DELETE') {
    const parsed = parsePath();
    if (parsed.ok) return method === 'DELETE' ? { kind: 'delete', job: parsed.key.job } : { kind: 'push', job: parsed.key.job };
  }
  return { kind: 'read' };
}

/** Whether a path (no query) is administrative, however it is spelled: any case, percent-encoded, `//`. */
export function isAdminPath(path: string): boolean {
  let decoded = path;
  if (path.indexOf('%') !== -1) {
    try {
      decoded = decodeURIComponent(path);
    } catch {
      // Undecodable: the router refuses it; the raw path is what remains to compare.
    }
  }
  decoded = decoded.toLowerCase();
  // Stricter than the router on purpose: `//api/v1/admin` is still administrative.
  while (decoded.startsWith('//')) decoded = decoded.slice(1);
  return ADMIN_PREFIXES.some((p) => decoded === p || decoded.startsWith(p + '/'));
}

/**
 * Whether a write comes from a page of another site, and by what sign: its `Sec-Fetch-Site`
 * (every current browser sends it; no push client does), or, from an older browser without it,
 * an `Origin` other than the front door's own (`Host`). Once a browser holds basic credentials
 * for the front door (its page asks for them), any site could otherwise make it POST a form
 * whose body parses as exposition text. A browser's own navigation (`none`) and the front door's
 * page (`same-origin`) may write. Undefined: not cross-site.
 */
export function crossSiteSign(
  method: string,
  headers: { readonly site?: string | undefined; readonly origin?: string | undefined; readonly host?: string | undefined },
): string | undefined {
  if (method === 'GET' || method === 'HEAD' || method === 'OPTIONS') return undefined;
  const { site, origin, host } = headers;
  if (site !== undefined) return site === 'same-origin' || site === 'none' ? undefined : `Sec-Fetch-Site: ${site.slice(0, 40)}`;
  if (origin === undefined) return undefined;
  let originHost: string | undefined;
  try {
    originHost = origin === 'null' ? undefined : new URL(origin).host;
  } catch {
    originHost = undefined;
  }
  return originHost !== undefined && originHost === host ? undefined : `Origin: ${origin.slice(0, 100)}`;
}

/** How a 403 names what was refused. */
export function describeAction(action: Action): string {
  switch (action.kind) {
    case 'push':
      return `push to job ${goQuote(action.job)}`;
    case 'delete':
      return `delete groups of job ${goQuote(action.job)}`;
    case 'admin':
      return 'call administrative endpoints';
    default:
      return 'read';
  }
}

/** A certificate subject pattern: every attribute given must be among the certificate's. */
export type SubjectPattern = ReadonlyArray<readonly [key: string, value: string]>;

/**
 * Parses `CN=batch-1,O=team-a`: comma-separated `KEY=value`, `\,` and `\\` escape a comma and a
 * backslash in a value, spaces around keys and values are dropped. Keys are compared as given
 * (`CN`, `O`, `OU`: how Node names them).
 */
export function parseSubject(text: string): { readonly ok: true; readonly pattern: SubjectPattern } | { readonly ok: false; readonly problem: string } {
  const parts: string[] = [];
  let current = '';
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === '\\') {
      const next = text[i + 1];
      if (next !== ',' && next !== '\\') return { ok: false, problem: `a backslash at position ${i + 1} escapes neither ',' nor '\\'` };
      current += next;
      i++;
    } else if (ch === ',') {
      parts.push(current);
      current = '';
    } else current += ch;
  }
  parts.push(current);
  const pattern: Array<readonly [string, string]> = [];
  for (const part of parts) {
    const eq = part.indexOf('=');
    const key = (eq === -1 ? part : part.slice(0, eq)).trim();
    const value = eq === -1 ? '' : part.slice(eq + 1).trim();
    if (eq === -1 || key === '' || value === '') return { ok: false, problem: `"${part.trim()}" is not KEY=value (for example CN=batch-1,O=team-a)` };
    if (!/^[A-Za-z][A-Za-z0-9.]*$/.test(key)) return { ok: false, problem: `"${key}" is not an attribute name such as CN, O or OU` };
    pattern.push([key, value]);
  }
  return { ok: true, pattern };
}

/** Whether a verified certificate's subject has every attribute of the pattern (repeated attributes: any value). */
export function matchesSubject(pattern: SubjectPattern, subject: Readonly<Record<string, readonly string[]>>): boolean {
  return pattern.every(([key, value]) => Object.hasOwn(subject, key) && subject[key]!.includes(value));
}

/** What one credential (or anonymous access) may do, its globs compiled once. */
export interface Scope {
  readonly push: readonly Glob[];
  readonly delete: readonly Glob[];
  readonly admin: boolean;
  readonly read: boolean;
}

export function compileScope(globs: {
  readonly push: readonly string[];
  readonly delete: readonly string[];
  readonly admin?: boolean;
  readonly read?: boolean;
}): Scope {
  return {
    push: globs.push.map(compileGlob),
    delete: globs.delete.map(compileGlob),
    admin: globs.admin ?? false,
    read: globs.read ?? true,
  };
}

/** Who a request is: nobody, a credential that failed (with why), or one that passed. */
export type Identity =
  | { readonly kind: 'anonymous' }
  | { readonly kind: 'invalid'; readonly problem: string; readonly credential: string }
  | { readonly kind: 'credential'; readonly name: string; readonly scope: Scope };

export type Decision =
  | { readonly kind: 'allow'; readonly credential: string }
  | { readonly kind: 'unauthenticated'; readonly credential: string; readonly problem: string }
  | { readonly kind: 'forbidden'; readonly credential: string; readonly action: string };

/** The credential label of a request without one, and of a secret that matched nothing. */
export const ANONYMOUS = 'anonymous';
export const UNKNOWN = 'unknown';

export const NEEDS_CREDENTIAL = 'this request needs a credential and presented none';

/**
 * The decision. Without credentials configured everything is allowed (a Pushgateway is open).
 * Otherwise a credential is judged by its own scope alone (anonymous grants are for requests
 * without one), and a request without one that anonymous access does not cover is 401, not 403:
 * presenting a credential may help it.
 */
export function decide(policy: { readonly enabled: boolean; readonly anonymous: Scope }, identity: Identity, action: Action): Decision {
  if (!policy.enabled || action.kind === 'open') return { kind: 'allow', credential: identity.kind === 'credential' ? identity.name : ANONYMOUS };
  if (identity.kind === 'invalid') return { kind: 'unauthenticated', credential: identity.credential, problem: identity.problem };
  const scope = identity.kind === 'credential' ? identity.scope : policy.anonymous;
  const name = identity.kind === 'credential' ? identity.name : ANONYMOUS;
  if (allows(scope, action, identity.kind === 'credential')) return { kind: 'allow', credential: name };
  if (identity.kind === 'anonymous') return { kind: 'unauthenticated', credential: ANONYMOUS, problem: NEEDS_CREDENTIAL };
  return { kind: 'forbidden', credential: name, action: describeAction(action) };
}

function allows(scope: Scope, action: Action, authenticated: boolean): boolean {
  switch (action.kind) {
    case 'push':
      return scope.push.some((re) => re.test(action.job));
    case 'delete':
      return scope.delete.some((re) => re.test(action.job));
    case 'admin':
      return scope.admin;
    default:
      // Any credential may read; anonymous reads only with `anonymous.read`.
      return authenticated || scope.read;
  }
}
