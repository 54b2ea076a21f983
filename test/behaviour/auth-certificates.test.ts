/**
 * Client certificates as credentials, end to end: a front door over HTTPS with `tls.clientCaFile`,
 * certificates made by the real openssl, pushes to real Pushgateways. A certificate's subject maps
 * to scopes as a token does; one from another CA, or one that matches no credential, is no
 * credential at all; a certificate and a bearer token work side by side.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestCa, type KeyPair, type TestCa } from '../helpers/certs.js';
import { tempDir } from '../helpers/processes.js';
import { startFrontDoor, type FrontDoor } from './front-door.js';

const TOKEN = 'ops-token-9f2c1d7e';
let ca: TestCa;
let otherCa: TestCa;
let door: FrontDoor;
let caPem: Buffer;
const agents: Agent[] = [];

beforeAll(async () => {
  ca = await createTestCa();
  otherCa = await createTestCa('another CA');
  caPem = await readFile(ca.caFile);
  const server = await ca.server();
  const dir = await tempDir('pushring-auth-certs-');
  await writeFile(join(dir, 'ops.token'), `${TOKEN}\n`);
  door = await startFrontDoor({
    shards: 1,
    replicas: 2,
    config: {
      tls: { certFile: server.certFile, keyFile: server.keyFile, clientCaFile: ca.caFile },
      auth: {
        credentials: [
          { name: 'team-a-batch', certificate: { subject: 'O=team-a,CN=batch-1' }, push: ['team-a-*'], delete: ['team-a-nightly'] },
          { name: 'ops', token: { file: join(dir, 'ops.token') }, push: ['*'], delete: ['*'], admin: true },
        ],
      },
    },
  });
}, 60_000);

afterAll(async () => {
  await Promise.all(agents.map((a) => a.close()));
  await door?.close();
});

async function agentWith(pair?: KeyPair): Promise<Agent> {
  const cert = pair === undefined ? {} : { cert: await readFile(pair.certFile), key: await readFile(pair.keyFile) };
  const agent = new Agent({ connect: { ca: caPem, servername: 'localhost', ...cert } });
  agents.push(agent);
  return agent;
}

async function send(
  agent: Agent,
  method: 'PUT' | 'POST' | 'DELETE',
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; code: string | undefined; body: string; challenge: string | undefined }> {
  const res = await request(`${door.url}${path}`, { method, headers, dispatcher: agent, ...(method === 'DELETE' ? {} : { body: 'cert_pushed 1\n' }) });
  const body = await res.body.text();
  const header = (name: string) => {
    const value = res.headers[name];
    return typeof value === 'string' ? value : undefined;
  };
  return { status: res.statusCode, code: header('x-pushring-error'), body, challenge: header('www-authenticate') };
}

async function jobsStored(): Promise<string[][]> {
  return Promise.all(door.backends[0]!.map(async (b) => (await b.groups()).map((g) => g.labels['job']!).sort()));
}

describe('client certificates as credentials', () => {
  it('pushes and deletes the jobs its subject is scoped to, and is refused the others, naming the credential', async () => {
    const batch = await agentWith(await ca.client('/CN=batch-1/O=team-a/OU=night'));
    expect((await send(batch, 'PUT', '/metrics/job/team-a-nightly')).status).toBe(200);
    expect((await send(batch, 'POST', '/metrics/job/team-a-hourly')).status).toBe(200);
    const other = await send(batch, 'PUT', '/metrics/job/team-b-nightly');
    expect([other.status, other.code]).toEqual([403, 'PUSHRING_FORBIDDEN']);
    expect(other.body).toContain('credential "team-a-batch" may not push to job "team-b-nightly"');
    const deleteOther = await send(batch, 'DELETE', '/metrics/job/team-a-hourly');
    expect([deleteOther.status, deleteOther.code]).toEqual([403, 'PUSHRING_FORBIDDEN']);
    expect((await send(batch, 'DELETE', '/metrics/job/team-a-nightly')).status).toBe(202);
    expect(await jobsStored()).toEqual([['team-a-hourly'], ['team-a-hourly']]);
  });

  it('treats a certificate from another CA, or one whose subject matches no credential, as no credential: 401, nothing stored', async () => {
    for (const pair of [await otherCa.client('/CN=batch-1/O=team-a'), await ca.client('/CN=batch-2/O=team-a'), undefined]) {
      const res = await send(await agentWith(pair), 'PUT', '/metrics/job/team-a-stray');
      expect([res.status, res.code]).toEqual([401, 'PUSHRING_UNAUTHENTICATED']);
      expect(res.challenge).toContain('Bearer realm="pushring"');
    }
    expect(await jobsStored()).toEqual([['team-a-hourly'], ['team-a-hourly']]);
  });

  it('takes a bearer token over the same HTTPS listener, with or without a client certificate', async () => {
    const bare = await agentWith();
    expect((await send(bare, 'PUT', '/metrics/job/ops-cleanup', { authorization: `Bearer ${TOKEN}` })).status).toBe(200);
    // A header present and valid decides, even over a certificate with narrower scopes.
    const batch = await agentWith(await ca.client('/CN=batch-1/O=team-a'));
    expect((await send(batch, 'PUT', '/metrics/job/team-b-report', { authorization: `Bearer ${TOKEN}` })).status).toBe(200);
    // A header present and wrong is refused, even when the certificate alone would do.
    const wrong = await send(batch, 'PUT', '/metrics/job/team-a-nightly', { authorization: 'Bearer not-the-token' });
    expect([wrong.status, wrong.code]).toEqual([401, 'PUSHRING_UNAUTHENTICATED']);
    expect((await jobsStored()).map((jobs) => jobs.includes('team-b-report'))).toEqual([true, true]);
  });
});
