import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  crossSiteSign,
  HEADER_PROBLEMS,
  NEEDS_CREDENTIAL,
  classifyRequest,
  compileScope,
  decide,
  matchesSubject,
  parseAuthorization,
  parseSubject,
  type Action,
  type Identity,
} from '../../src/core/auth.js';
import { compileGlob } from '../../src/core/glob.js';
import { parseGroupingPath } from '../../src/core/grouping-key.js';

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

describe('parseAuthorization', () => {
  it.each([
    ['Bearer abc.DEF-123', { ok: true, kind: 'bearer', token: 'abc.DEF-123' }],
    ['bearer t0k3n==', { ok: true, kind: 'bearer', token: 't0k3n==' }],
    ['BEARER x', { ok: true, kind: 'bearer', token: 'x' }],
    [`Basic ${b64('batch:s3cret')}`, { ok: true, kind: 'basic', username: 'batch', password: 's3cret' }],
    [`basic ${b64('batch:')}`, { ok: true, kind: 'basic', username: 'batch', password: '' }],
    [`Basic ${b64('u:pa:ss')}`, { ok: true, kind: 'basic', username: 'u', password: 'pa:ss' }],
    [`Basic ${b64('ü:pässwörd')}`, { ok: true, kind: 'basic', username: 'ü', password: 'pässwörd' }],
  ])('reads %j', (header, expected) => {
    expect(parseAuthorization(header)).toEqual(expected);
  });

  it.each([
    ['', HEADER_PROBLEMS.empty],
    ['   ', HEADER_PROBLEMS.empty],
    ['Bearer', HEADER_PROBLEMS.noCredentials],
    ['Bearer ', HEADER_PROBLEMS.noCredentials],
    ['Bearer  secret-token', HEADER_PROBLEMS.spaces],
    ['Bearer secret token', HEADER_PROBLEMS.tokenSpace],
    ['Bearer sécret', HEADER_PROBLEMS.nonAscii],
    ['Bearer secret\ttoken', HEADER_PROBLEMS.nonAscii],
    ['Token secret-token', HEADER_PROBLEMS.scheme],
    ['Digest username="x"', HEADER_PROBLEMS.scheme],
    ['Basic not*base64', HEADER_PROBLEMS.base64],
    ['Basic YWJj', HEADER_PROBLEMS.colon],
    ['Basic YWJjZA', HEADER_PROBLEMS.base64],
    ['Basic YW=jZA==', HEADER_PROBLEMS.base64],
    [`Basic ${b64(':password')}`, HEADER_PROBLEMS.emptyUser],
    [`Basic ${Buffer.from([0x75, 0x3a, 0xff, 0xfe]).toString('base64')}`, HEADER_PROBLEMS.utf8],
  ])('refuses %j with its own problem', (header, problem) => {
    expect(parseAuthorization(header)).toEqual({ ok: false, problem });
  });

  it('gives every way to get it wrong its own problem text', () => {
    const texts = Object.values(HEADER_PROBLEMS);
    expect(new Set(texts).size).toBe(texts.length);
  });

  it('never puts the presented secret into a problem', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 4 }), fc.constantFrom('Bearer ', 'Basic ', 'bearer  ', 'Other ', ''), (secret, prefix) => {
        for (const header of [prefix + secret, prefix + b64(secret), prefix + b64('user:' + secret)]) {
          const parsed = parseAuthorization(header);
          if (!parsed.ok) expect(parsed.problem).not.toContain(secret);
        }
      }),
    );
  });
});

describe('crossSiteSign', () => {
  const host = 'pushring.example:9191';
  it.each([
    ['POST', { site: 'cross-site', host }, 'Sec-Fetch-Site: cross-site'],
    ['PUT', { site: 'same-site', host }, 'Sec-Fetch-Site: same-site'],
    ['DELETE', { site: 'cross-site', origin: `http://${host}`, host }, 'Sec-Fetch-Site: cross-site'],
    ['PATCH', { site: 'cross-site', host }, 'Sec-Fetch-Site: cross-site'],
    ['POST', { site: 'same-origin', origin: 'http://elsewhere', host }, undefined],
    ['DELETE', { site: 'none', host }, undefined],
    ['PUT', { host }, undefined],
    ['GET', { site: 'cross-site', host }, undefined],
    ['HEAD', { site: 'cross-site', host }, undefined],
    ['OPTIONS', { site: 'cross-site', host }, undefined],
    // An older browser without Sec-Fetch-Site: its Origin decides.
    ['POST', { origin: `http://${host}`, host }, undefined],
    ['POST', { origin: `https://${host}`, host }, undefined],
    ['POST', { origin: 'https://evil.example', host }, 'Origin: https://evil.example'],
    ['POST', { origin: 'null', host }, 'Origin: null'],
    ['POST', { origin: 'not a url', host }, 'Origin: not a url'],
    ['POST', { origin: `http://${host}` }, `Origin: http://${host}`],
  ] as const)('%s with %j: %s', (method, headers, sign) => {
    expect(crossSiteSign(method, headers)).toBe(sign);
  });
});

describe('classifyRequest', () => {
  it.each<[string, string, Action]>([
    ['PUT', '/metrics/job/batch', { kind: 'push', job: 'batch' }],
    ['POST', '/metrics/job/batch/instance/a', { kind: 'push', job: 'batch' }],
    ['PUT', `/metrics/job@base64/${Buffer.from('team/a').toString('base64url')}`, { kind: 'push', job: 'team/a' }],
    ['PUT', '/metrics/job/a%2Fb/x', { kind: 'push', job: 'a' }],
    ['PUT', '/metrics/job/batch?x=1', { kind: 'push', job: 'batch' }],
    ['DELETE', '/metrics/job/batch/instance/a', { kind: 'delete', job: 'batch' }],
    ['GET', '/metrics/job/batch', { kind: 'read' }],
    ['PATCH', '/metrics/job/batch', { kind: 'read' }],
    ['PUT', '/metrics/job@base64/!!', { kind: 'read' }],
    ['PUT', '/Metrics/job/batch', { kind: 'read' }],
    ['PUT', '//metrics/job/batch', { kind: 'read' }],
    ['PUT', '/metrics/job/', { kind: 'read' }],
    ['PUT', '/metrics', { kind: 'read' }],
    ['GET', '/metrics', { kind: 'read' }],
    ['GET', '/-/status', { kind: 'read' }],
    ['GET', '/-/healthy', { kind: 'open' }],
    ['HEAD', '/-/ready?x', { kind: 'open' }],
    ['GET', '/', { kind: 'open' }],
    ['GET', '/-/page/app.js', { kind: 'open' }],
    ['GET', '/-/api/groups?job=x', { kind: 'read' }],
    ['GET', '/-/status', { kind: 'read' }],
    ['GET', '/-/healthy/', { kind: 'read' }],
    ['PUT', '/api/v1/admin/wipe', { kind: 'admin' }],
    ['POST', '/api/v1/admin', { kind: 'admin' }],
    ['PUT', '/API/V1/Admin/wipe', { kind: 'admin' }],
    ['PUT', '/api/v1/%61dmin/wipe', { kind: 'admin' }],
    ['PUT', '//api/v1/admin/wipe', { kind: 'admin' }],
    ['GET', '/api/v1/administrator', { kind: 'read' }],
    ['GET', '/api/v1/metrics', { kind: 'read' }],
  ])('%s %s', (method, url, expected) => {
    expect(classifyRequest(method, url)).toEqual(expected);
  });

  it('agrees with the push route on the job of every push path it lets through as a push', () => {
    const segment = fc.oneof(fc.constantFrom('job', 'job@base64', 'a', 'b@base64', '', '%2F', '%zz', 'x', 'YQ', '..', 'Metrics'), fc.string({ maxLength: 6 }));
    const url = fc.array(segment, { maxLength: 6 }).map((parts) => `/metrics/${parts.join('/')}`);
    fc.assert(
      fc.property(fc.constantFrom('PUT', 'POST', 'DELETE'), url, (method, u) => {
        const action = classifyRequest(method, u);
        const parsed = parseGroupingPath(u);
        if (parsed.ok) expect(action).toEqual({ kind: method === 'DELETE' ? 'delete' : 'push', job: parsed.key.job });
        else expect(action.kind).toBe('read');
      }),
    );
  });
});

describe('certificate subjects', () => {
  it.each([
    [
      'CN=batch-1,O=team-a',
      [
        ['CN', 'batch-1'],
        ['O', 'team-a'],
      ],
    ],
    [
      ' CN = batch-1 , OU=x ',
      [
        ['CN', 'batch-1'],
        ['OU', 'x'],
      ],
    ],
    [
      'O=Team\\, Inc.,CN=a',
      [
        ['O', 'Team, Inc.'],
        ['CN', 'a'],
      ],
    ],
    ['CN=back\\\\slash', [['CN', 'back\\slash']]],
  ])('parses %j', (text, pattern) => {
    expect(parseSubject(text)).toEqual({ ok: true, pattern });
  });

  it.each([
    ['CN', '"CN" is not KEY=value (for example CN=batch-1,O=team-a)'],
    ['CN=a,,O=b', '"" is not KEY=value (for example CN=batch-1,O=team-a)'],
    ['CN=', '"CN=" is not KEY=value (for example CN=batch-1,O=team-a)'],
    ['=a', '"=a" is not KEY=value (for example CN=batch-1,O=team-a)'],
    ['C N=a', '"C N" is not an attribute name such as CN, O or OU'],
    ['CN=a\\b', "a backslash at position 5 escapes neither ',' nor '\\'"],
  ])('refuses %j', (text, problem) => {
    expect(parseSubject(text)).toEqual({ ok: false, problem });
  });

  it.each([
    ['CN=batch-1,O=team-a', { CN: ['batch-1'], O: ['team-a'], C: ['DE'] }, true],
    ['O=team-a', { CN: ['batch-1'], O: ['team-a'] }, true],
    ['OU=b', { CN: ['x'], OU: ['a', 'b'] }, true],
    ['CN=batch-1,O=team-a', { CN: ['batch-1'], O: ['team-b'] }, false],
    ['CN=batch-1', { O: ['team-a'] }, false],
    ['CN=batch-1', { CN: ['batch-10'] }, false],
    ['CN=toString', {}, false],
  ])('%j against %j: %s', (text, subject, expected) => {
    const parsed = parseSubject(text);
    if (!parsed.ok) throw new Error(parsed.problem);
    expect(matchesSubject(parsed.pattern, subject)).toBe(expected);
  });
});

const on = { enabled: true, anonymous: compileScope({ push: ['public-*'], delete: [], read: true }) };
const closed = { enabled: true, anonymous: compileScope({ push: [], delete: [], read: false }) };
const batch: Identity = { kind: 'credential', name: 'batch', scope: compileScope({ push: ['batch-*'], delete: ['batch-old'] }) };
const admin: Identity = { kind: 'credential', name: 'ops', scope: compileScope({ push: [], delete: [], admin: true }) };
const anonymous: Identity = { kind: 'anonymous' };
const invalid: Identity = { kind: 'invalid', problem: 'the bearer token matches no credential', credential: 'unknown' };

describe('decide', () => {
  it.each<[string, typeof on, Identity, Action, unknown]>([
    ['a credential pushes in scope', on, batch, { kind: 'push', job: 'batch-7' }, { kind: 'allow', credential: 'batch' }],
    ['a credential out of scope', on, batch, { kind: 'push', job: 'other' }, { kind: 'forbidden', credential: 'batch', action: 'push to job "other"' }],
    [
      'a credential is judged by its own scope, not anonymous grants',
      on,
      batch,
      { kind: 'push', job: 'public-x' },
      { kind: 'forbidden', credential: 'batch', action: 'push to job "public-x"' },
    ],
    ['a delete in scope', on, batch, { kind: 'delete', job: 'batch-old' }, { kind: 'allow', credential: 'batch' }],
    [
      'a push scope is no delete scope',
      on,
      batch,
      { kind: 'delete', job: 'batch-7' },
      { kind: 'forbidden', credential: 'batch', action: 'delete groups of job "batch-7"' },
    ],
    ['admin with admin', on, admin, { kind: 'admin' }, { kind: 'allow', credential: 'ops' }],
    ['admin without admin', on, batch, { kind: 'admin' }, { kind: 'forbidden', credential: 'batch', action: 'call administrative endpoints' }],
    ['any credential reads', closed, batch, { kind: 'read' }, { kind: 'allow', credential: 'batch' }],
    ['anonymous reads with anonymous.read', on, anonymous, { kind: 'read' }, { kind: 'allow', credential: 'anonymous' }],
    ['anonymous without anonymous.read', closed, anonymous, { kind: 'read' }, { kind: 'unauthenticated', credential: 'anonymous', problem: NEEDS_CREDENTIAL }],
    ['anonymous pushes to its globs', on, anonymous, { kind: 'push', job: 'public-1' }, { kind: 'allow', credential: 'anonymous' }],
    [
      'anonymous out of its globs is 401, not 403',
      on,
      anonymous,
      { kind: 'push', job: 'batch-1' },
      { kind: 'unauthenticated', credential: 'anonymous', problem: NEEDS_CREDENTIAL },
    ],
    ['anonymous never is admin', on, anonymous, { kind: 'admin' }, { kind: 'unauthenticated', credential: 'anonymous', problem: NEEDS_CREDENTIAL }],
    [
      'an invalid credential is 401 even where anonymous would pass',
      on,
      invalid,
      { kind: 'push', job: 'public-1' },
      { kind: 'unauthenticated', credential: 'unknown', problem: 'the bearer token matches no credential' },
    ],
    ['health probes are open to anyone', closed, invalid, { kind: 'open' }, { kind: 'allow', credential: 'anonymous' }],
  ])('%s', (_name, policy, identity, action, expected) => {
    expect(decide(policy, identity, action)).toEqual(expected);
  });

  const job = fc.string({ maxLength: 12 });
  const glob = fc.stringMatching(/^[a-c*?]{1,4}$/);
  const action: fc.Arbitrary<Action> = fc.oneof(
    job.map((j) => ({ kind: 'push' as const, job: j })),
    job.map((j) => ({ kind: 'delete' as const, job: j })),
    fc.constant({ kind: 'admin' as const }),
    fc.constant({ kind: 'read' as const }),
    fc.constant({ kind: 'open' as const }),
  );
  const scope = fc.record({ push: fc.array(glob, { maxLength: 3 }), delete: fc.array(glob, { maxLength: 3 }), admin: fc.boolean() });

  it('allows everything when no credentials are configured', () => {
    fc.assert(
      fc.property(scope, action, (s, a) => {
        const identities: Identity[] = [anonymous, invalid, { kind: 'credential', name: 'c', scope: compileScope(s) }];
        for (const identity of identities) expect(decide({ enabled: false, anonymous: compileScope(s) }, identity, a).kind).toBe('allow');
      }),
    );
  });

  it('never lets a credential push or delete a job its globs do not match', () => {
    fc.assert(
      fc.property(scope, scope, fc.boolean(), fc.constantFrom('push', 'delete'), job, (s, anon, read, verb, j) => {
        const decision = decide(
          { enabled: true, anonymous: compileScope({ ...anon, read }) },
          { kind: 'credential', name: 'c', scope: compileScope(s) },
          { kind: verb, job: j },
        );
        const globs = verb === 'push' ? s.push : s.delete;
        expect(decision.kind === 'allow').toBe(globs.some((g) => compileGlob(g).test(j)));
      }),
    );
  });

  it('never answers 403 to a request without a credential', () => {
    fc.assert(
      fc.property(scope, fc.boolean(), action, (anon, read, a) => {
        expect(decide({ enabled: true, anonymous: compileScope({ ...anon, read }) }, anonymous, a).kind).not.toBe('forbidden');
      }),
    );
  });
});
