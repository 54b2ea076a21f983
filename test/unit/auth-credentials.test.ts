import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NO_BASIC_MATCH, NO_TOKEN_MATCH, createCredentialTable, sourcesOf } from '../../src/auth/credentials.js';
import { describeSecret } from '../../src/auth/secrets.js';
import type { AuthConfig, SecretSource } from '../../src/config/schema.js';
import { HEADER_PROBLEMS, compileScope, decide, type Identity } from '../../src/core/auth.js';
import { validated } from '../helpers/config.js';

/** A SecretStore over a plain map: where -> value (absent: cannot be read). */
function fakeSecrets(values: Record<string, string>) {
  return {
    get: (s: SecretSource) => values[describeSecret(s)],
    failed: (s: SecretSource) => !(describeSecret(s) in values),
  };
}

function authOf(auth: Record<string, unknown>): AuthConfig {
  return validated({ shards: [{ name: 'a', replicas: ['http://127.0.0.1:1'] }], tls: { certFile: 'c', keyFile: 'k', clientCaFile: 'ca' }, auth }).auth;
}

const auth = authOf({
  credentials: [
    { name: 'batch', token: { env: 'BATCH' }, push: ['batch-*'] },
    { name: 'ops', basic: { username: 'ops', password: { file: '/run/ops' } }, admin: true },
    { name: 'cert', certificate: { subject: 'CN=batch-1,O=team-a' }, push: ['cert-*'] },
    { name: 'cert-team', certificate: { subject: 'O=team-a' } },
  ],
});
const basic = (user: string, pass: string): string => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;

describe('the credential table', () => {
  const table = createCredentialTable(auth, fakeSecrets({ 'env BATCH': 't-batch', 'file /run/ops': 'p-ops' }));
  const nameOf = (identity: Identity): string =>
    identity.kind === 'credential' ? identity.name : identity.kind === 'invalid' ? `invalid ${identity.credential}: ${identity.problem}` : 'anonymous';

  it.each([
    [{ authorization: 'Bearer t-batch' }, 'batch'],
    [{ authorization: 'bearer t-batch' }, 'batch'],
    [{ authorization: 'Bearer t-batc' }, `invalid unknown: ${NO_TOKEN_MATCH}`],
    [{ authorization: 'Bearer p-ops' }, `invalid unknown: ${NO_TOKEN_MATCH}`],
    [{ authorization: basic('ops', 'p-ops') }, 'ops'],
    [{ authorization: basic('ops', 'wrong') }, `invalid ops: ${NO_BASIC_MATCH}`],
    [{ authorization: basic('nobody', 'p-ops') }, `invalid unknown: ${NO_BASIC_MATCH}`],
    [{ authorization: 'Bearer  t-batch' }, `invalid unknown: ${HEADER_PROBLEMS.spaces}`],
    [{ certificate: { subject: { CN: ['batch-1'], O: ['team-a'] } } }, 'cert'],
    [{ certificate: { subject: { CN: ['batch-2'], O: ['team-a'] } } }, 'cert-team'],
    [{ certificate: { subject: { CN: ['batch-1'], O: ['team-b'] } } }, 'anonymous'],
    [{ authorization: 'Bearer t-batch', certificate: { subject: { CN: ['batch-1'], O: ['team-a'] } } }, 'batch'],
    [{ authorization: 'Bearer nope', certificate: { subject: { CN: ['batch-1'], O: ['team-a'] } } }, `invalid unknown: ${NO_TOKEN_MATCH}`],
    [{}, 'anonymous'],
  ])('identifies %j as %s', (presented, expected) => {
    expect(nameOf(table.identify(presented))).toBe(expected);
  });

  it('makes a credential whose secret cannot be read match nothing, and counts it', () => {
    const values: Record<string, string> = { 'env BATCH': 't-batch' };
    const t = createCredentialTable(auth, fakeSecrets(values));
    expect(t.unreadableSecrets()).toBe(1);
    expect(t.identify({ authorization: basic('ops', 'p-ops') }).kind).toBe('invalid');
    values['file /run/ops'] = 'p-ops';
    delete values['env BATCH'];
    t.rebuild();
    expect(t.identify({ authorization: basic('ops', 'p-ops') }).kind).toBe('credential');
    expect(t.identify({ authorization: 'Bearer t-batch' }).kind).toBe('invalid');
    expect(t.unreadableSecrets()).toBe(1);
  });

  it('takes a rotated secret at the next rebuild and drops the old one', () => {
    const values: Record<string, string> = { 'env BATCH': 'old', 'file /run/ops': 'p' };
    const t = createCredentialTable(auth, fakeSecrets(values));
    values['env BATCH'] = 'new';
    t.rebuild();
    expect(t.identify({ authorization: 'Bearer new' }).kind).toBe('credential');
    expect(t.identify({ authorization: 'Bearer old' }).kind).toBe('invalid');
  });

  it('warns by name, never by value, when two credentials share a token, and takes the first', () => {
    const a = authOf({
      credentials: [
        { name: 'first', token: { env: 'A' }, push: ['a'] },
        { name: 'second', token: { env: 'B' }, push: ['b'] },
      ],
    });
    const warnings: string[] = [];
    const t = createCredentialTable(a, fakeSecrets({ 'env A': 'same-secret', 'env B': 'same-secret' }), (m) => warnings.push(m));
    expect(t.identify({ authorization: 'Bearer same-secret' })).toMatchObject({ kind: 'credential', name: 'first' });
    expect(warnings).toEqual(['credentials "first" and "second" have the same token; it is taken as "first"']);
  });

  it('lists every secret source once per credential', () => {
    expect(sourcesOf(auth)).toEqual([{ env: 'BATCH' }, { file: '/run/ops' }]);
  });

  it("decides the same for a credential's token whatever other credentials exist", () => {
    const policy = { enabled: true, anonymous: compileScope({ push: [], delete: [], read: true }) };
    const token = fc.stringMatching(/^[A-Za-z0-9._~+/-]{1,16}$/);
    fc.assert(
      fc.property(
        token,
        fc.uniqueArray(token, { maxLength: 5 }),
        fc.string({ maxLength: 8 }),
        fc.constantFrom('PUT', 'DELETE'),
        (mine, others, job, method) => {
          const alone = authOf({ credentials: [{ name: 'me', token: { env: 'ME' }, push: ['a*'], delete: ['b*'] }] });
          const crowd = authOf({
            credentials: [
              ...others.filter((o) => o !== mine).map((_, i) => ({ name: `o${i}`, token: { env: `O${i}` }, push: ['*'], delete: ['*'], admin: true })),
              { name: 'me', token: { env: 'ME' }, push: ['a*'], delete: ['b*'] },
            ],
          });
          const values: Record<string, string> = { 'env ME': mine };
          others.filter((o) => o !== mine).forEach((o, i) => (values[`env O${i}`] = o));
          const action = method === 'PUT' ? { kind: 'push' as const, job } : { kind: 'delete' as const, job };
          const judge = (a: AuthConfig) => decide(policy, createCredentialTable(a, fakeSecrets(values)).identify({ authorization: `Bearer ${mine}` }), action);
          expect(judge(crowd)).toEqual(judge(alone));
        },
      ),
      { numRuns: 200 },
    );
  });
});
