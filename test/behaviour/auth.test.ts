/**
 * Credentials scoped to jobs, end to end over real Pushgateways: the scope matrix per verb and
 * credential kind, nothing stored on refusal, no secret in what reaches a backend (a recording
 * TCP proxy in front of one replica), in the log or in the metrics, rotation without a restart,
 * and the failure limit per address.
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCluster, startHealthChecks } from '../../src/backends/cluster.js';
import { buildApp } from '../../src/http/app.js';
import { startServer } from '../../src/server.js';
import { removeTempDirs, tempDir, waitFor } from '../helpers/processes.js';
import { startPushgateway, type Pushgateway } from '../helpers/pushgateway.js';
import { validated } from '../helpers/config.js';
import { stringify } from 'yaml';

const TOKEN = 'tok-7f3a9c1e5b2d4a6c';
const ROTATED = 'tok-rotated-0d9e8f7a6b5c';
const PASSWORD = 'pw-4c2e6a8b0d1f3e5a';
const WRONG = 'tok-wrong-1a2b3c4d5e6f';
const basic = (user: string, pass: string): string => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;

interface Answer {
  readonly status: number;
  readonly body: string;
  readonly code: string | undefined;
  readonly challenge: string | undefined;
  readonly retryAfter: string | undefined;
}

async function send(base: string, method: string, path: string, authorization?: string, body = 'm 1\n'): Promise<Answer> {
  const res = await request(base + path, {
    method: method as 'PUT',
    headers: authorization === undefined ? {} : { authorization },
    body: method === 'PUT' || method === 'POST' ? body : null,
  });
  const text = await res.body.text();
  const header = (name: string): string | undefined => {
    const v = res.headers[name];
    return Array.isArray(v) ? v.join(', ') : v;
  };
  return { status: res.statusCode, body: text, code: header('x-pushring-error'), challenge: header('www-authenticate'), retryAfter: header('retry-after') };
}

/** A TCP relay that keeps every byte the front door sends to the Pushgateway behind it. */
async function startRecordingProxy(target: Pushgateway): Promise<{ url: string; recorded(): Buffer; close(): Promise<void> }> {
  const chunks: Buffer[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = createConnection({ host: '127.0.0.1', port: target.port });
    sockets.add(client).add(upstream);
    client.on('data', (chunk: Buffer) => chunks.push(chunk));
    client.pipe(upstream).pipe(client);
    const end = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    recorded: () => Buffer.concat(chunks),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

interface Door {
  readonly url: string;
  readonly log: () => string;
  close(): Promise<void>;
}

/** A front door over `replicas` (one shard), built as the server builds it, logging at debug into a buffer. */
async function startDoor(replicas: readonly string[], extra: Record<string, unknown>): Promise<Door> {
  const config = validated({
    listen: '127.0.0.1:0',
    shards: [{ name: 's0', replicas }],
    health: { intervalMs: 200, timeoutMs: 500 },
    ...extra,
  });
  let logged = '';
  const logger = pino({ level: 'debug' }, { write: (line: string) => void (logged += line) });
  const cluster = createCluster(config);
  const health = startHealthChecks(cluster, config.health.intervalMs);
  const app: FastifyInstance = buildApp({ config, cluster, logger });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return {
    url,
    log: () => logged,
    async close() {
      health.stop();
      await app.close();
      await cluster.close();
    },
  };
}

const labelsOf = async (gateway: Pushgateway): Promise<string[]> => (await gateway.groups()).map((g) => JSON.stringify(g.labels)).sort();
const group = (job: string): string => JSON.stringify({ job });

/** Polls until `gateway` holds exactly `expected` (DELETE and unchecked PUTs are applied later), then asserts it. */
async function expectGroups(gateway: Pushgateway, expected: readonly string[]): Promise<void> {
  const want = JSON.stringify([...expected].sort());
  await waitFor(async () => JSON.stringify(await labelsOf(gateway)) === want, { what: `${gateway.url} to hold ${want}` }).catch(() => undefined);
  expect(await labelsOf(gateway), gateway.url).toEqual([...expected].sort());
}

let dir: string;
let gateways: Pushgateway[];
beforeAll(async () => {
  dir = await tempDir('pushring-auth-');
  gateways = await Promise.all([startPushgateway(), startPushgateway()]);
});
afterAll(async () => {
  await Promise.all((gateways ?? []).map((g) => g.close()));
  await removeTempDirs();
});

async function wipeAll(): Promise<void> {
  await Promise.all(gateways.map((g) => g.wipe()));
  await waitFor(async () => (await Promise.all(gateways.map((g) => g.groups()))).every((groups) => groups.length === 0), { what: 'the backends to be empty' });
}

describe('credentials scoped to jobs', () => {
  let proxy: Awaited<ReturnType<typeof startRecordingProxy>>;
  let door: Door;
  let closedDoor: Door;

  beforeAll(async () => {
    await writeFile(join(dir, 'batch.token'), `${TOKEN}\n`);
    await writeFile(join(dir, 'ops.password'), PASSWORD);
    proxy = await startRecordingProxy(gateways[1]!);
    const credentials = [
      { name: 'batch', token: { file: join(dir, 'batch.token') }, push: ['batch-*'], delete: ['batch-old'] },
      { name: 'ops', basic: { username: 'ops', password: { file: join(dir, 'ops.password') } }, delete: ['*'], admin: true },
    ];
    const failures = { perAddress: 1_000 };
    door = await startDoor([gateways[0]!.url, proxy.url], { auth: { credentials, anonymous: { push: ['public-*'] }, failures } });
    // The same backends behind a door that grants nothing without a credential, reads included.
    closedDoor = await startDoor([gateways[0]!.url, proxy.url], { auth: { credentials, anonymous: { read: false }, failures } });
    await wipeAll();
  });
  afterAll(async () => {
    await door?.close();
    await closedDoor?.close();
    await proxy?.close();
  });

  const bearer = `Bearer ${TOKEN}`;
  const ops = basic('ops', PASSWORD);
  type Row = [what: string, method: string, path: string, authorization: string | undefined, status: number, code: string | undefined];
  const rows: Row[] = [
    ['bearer: PUT in scope', 'PUT', '/metrics/job/batch-1', bearer, 200, undefined],
    ['bearer: POST in scope', 'POST', '/metrics/job/batch-2', bearer, 200, undefined],
    ['bearer: PUT of the job it may delete', 'PUT', '/metrics/job/batch-old', bearer, 200, undefined],
    ['bearer: PUT out of scope', 'PUT', '/metrics/job/other', bearer, 403, 'PUSHRING_FORBIDDEN'],
    ['bearer: POST out of scope', 'POST', '/metrics/job/other', bearer, 403, 'PUSHRING_FORBIDDEN'],
    ['bearer: DELETE out of scope (push scope only)', 'DELETE', '/metrics/job/batch-1', bearer, 403, 'PUSHRING_FORBIDDEN'],
    ['bearer: admin without the admin scope', 'PUT', '/api/v1/admin/wipe', bearer, 403, 'PUSHRING_FORBIDDEN'],
    ['bearer: a base64 job out of scope', 'PUT', `/metrics/job@base64/${Buffer.from('other').toString('base64url')}`, bearer, 403, 'PUSHRING_FORBIDDEN'],
    ['basic: PUT out of scope (delete only)', 'PUT', '/metrics/job/batch-3', ops, 403, 'PUSHRING_FORBIDDEN'],
    ['basic: POST out of scope', 'POST', '/metrics/job/batch-3', ops, 403, 'PUSHRING_FORBIDDEN'],
    ['basic: admin in scope (a dry run of the wipe)', 'PUT', '/api/v1/admin/wipe?dry_run=true', ops, 200, undefined],
    ['anonymous: PUT to an anonymous glob', 'PUT', '/metrics/job/public-1', undefined, 200, undefined],
    ['anonymous: POST to an anonymous glob', 'POST', '/metrics/job/public-2', undefined, 200, undefined],
    ['anonymous: PUT outside the anonymous globs', 'PUT', '/metrics/job/batch-4', undefined, 401, 'PUSHRING_UNAUTHENTICATED'],
    ['anonymous: DELETE (no anonymous delete globs)', 'DELETE', '/metrics/job/public-1', undefined, 401, 'PUSHRING_UNAUTHENTICATED'],
    ['anonymous: admin', 'PUT', '/api/v1/admin/wipe', undefined, 401, 'PUSHRING_UNAUTHENTICATED'],
    ['anonymous: read', 'GET', '/-/status', undefined, 200, undefined],
    ['wrong token: PUT in scope of the real one', 'PUT', '/metrics/job/batch-5', `Bearer ${WRONG}`, 401, 'PUSHRING_UNAUTHENTICATED'],
    ['wrong token: PUT to an anonymous glob', 'PUT', '/metrics/job/public-3', `Bearer ${WRONG}`, 401, 'PUSHRING_UNAUTHENTICATED'],
    ['wrong token: DELETE', 'DELETE', '/metrics/job/batch-1', `Bearer ${WRONG}`, 401, 'PUSHRING_UNAUTHENTICATED'],
    ['wrong password: DELETE', 'DELETE', '/metrics/job/batch-1', basic('ops', WRONG), 401, 'PUSHRING_UNAUTHENTICATED'],
    ['wrong password: admin', 'PUT', '/api/v1/admin/wipe', basic('ops', WRONG), 401, 'PUSHRING_UNAUTHENTICATED'],
    ['malformed header: PUT', 'PUT', '/metrics/job/batch-6', `Bearer  ${TOKEN}`, 401, 'PUSHRING_UNAUTHENTICATED'],
    ['malformed header: POST', 'POST', '/metrics/job/public-4', 'Basic !!!', 401, 'PUSHRING_UNAUTHENTICATED'],
    ['unknown scheme: DELETE', 'DELETE', '/metrics/job/batch-1', `Token ${TOKEN}`, 401, 'PUSHRING_UNAUTHENTICATED'],
    ['an unparsable push path still needs authentication', 'PUT', '/metrics/job@base64/!!', `Bearer ${WRONG}`, 401, 'PUSHRING_UNAUTHENTICATED'],
    ['an unparsable push path gets its Go answer once authenticated', 'PUT', '/metrics/job@base64/!!', bearer, 400, undefined],
    ['a redirect once authenticated', 'PUT', '/Metrics/job/batch-1', bearer, 307, undefined],
    ['health probes stay open, even with a bad header', 'GET', '/-/healthy', `Bearer ${WRONG}`, 200, undefined],
  ];

  it.each(rows)('%s: %s %s -> %s', async (_what, method, path, authorization, status, code) => {
    const answer = await send(door.url, method, path, authorization);
    expect({ status: answer.status, code: answer.code }).toEqual({ status, code });
    if (status === 401) {
      expect(answer.challenge).toBe('Bearer realm="pushring", Basic realm="pushring"');
      expect(answer.body).toMatch(/^pushring: .*; nothing was done\./);
    } else expect(answer.challenge).toBeUndefined();
    if (status === 403) expect(answer.body).toContain(`credential "${authorization === bearer ? 'batch' : 'ops'}" may not`);
  });

  it('refuses before the body is read: a 16 MiB push announced without a credential is answered at once', async () => {
    const { hostname, port } = new URL(door.url);
    const socket = createConnection({ host: hostname, port: Number(port) });
    const answer = await new Promise<string>((resolve, reject) => {
      let got = '';
      socket.on('data', (chunk: Buffer) => {
        got += chunk.toString('latin1');
        if (got.includes('\r\n\r\n')) resolve(got);
      });
      socket.on('error', reject);
      // The headers only: a front door that waited for the body would never answer.
      socket.write('PUT /metrics/job/batch-1 HTTP/1.1\r\nHost: x\r\nContent-Length: 16777216\r\n\r\n');
    });
    socket.destroy();
    expect(answer).toMatch(/^HTTP\/1\.1 401 /);
    expect(answer.toLowerCase()).toContain('x-pushring-error: pushring_unauthenticated');
  });

  it('names the job and the credential in a 403', async () => {
    const answer = await send(door.url, 'PUT', '/metrics/job/other/instance/x', bearer);
    expect(answer.body).toBe(
      'pushring: credential "batch" may not push to job "other"; nothing was done. Use a credential whose scope covers it, or the operator widens this one (auth.credentials).\n',
    );
  });

  it('says what was wrong with a header without echoing it', async () => {
    const answer = await send(door.url, 'PUT', '/metrics/job/batch-1', `Bearer  ${TOKEN}`);
    expect(answer.body).toContain('more than one space');
    expect(answer.body).not.toContain(TOKEN);
  });

  it('deletes in scope, and stores exactly what was allowed on both replicas', async () => {
    expect((await send(door.url, 'DELETE', '/metrics/job/batch-old', bearer)).status).toBe(202);
    expect((await send(door.url, 'DELETE', '/metrics/job/public-2', ops)).status).toBe(202);
    for (const gateway of gateways) await expectGroups(gateway, [group('batch-1'), group('batch-2'), group('public-1')]);
  });

  it("refuses a write a browser sends from another site's page, with the credentials it holds, and keeps the front door's own", async () => {
    for (const site of ['cross-site', 'same-site']) {
      // ops may delete batch-1: only the site refuses it.
      const res = await request(`${door.url}/metrics/job/batch-1`, { method: 'DELETE', headers: { authorization: ops, 'sec-fetch-site': site } });
      expect(res.statusCode, site).toBe(403);
      expect(res.headers['x-pushring-error']).toBe('PUSHRING_CROSS_SITE');
      expect(await res.body.text()).toContain(`Sec-Fetch-Site: ${site}`);
    }
    for (const gateway of gateways) await expectGroups(gateway, [group('batch-1'), group('batch-2'), group('public-1')]);
    // The front door's page (same-origin), and reads from anywhere, go on as before.
    const same = await request(`${door.url}/metrics/job/batch-3`, {
      method: 'PUT',
      headers: { authorization: bearer, 'sec-fetch-site': 'same-origin' },
      body: 'm 1\n',
    });
    expect(same.statusCode).toBe(200);
    await same.body.dump();
    const read = await request(`${door.url}/api/v1/metrics`, { headers: { authorization: bearer, 'sec-fetch-site': 'cross-site' } });
    expect(read.statusCode).toBe(200);
    await read.body.dump();
    expect((await send(door.url, 'DELETE', '/metrics/job/batch-3', ops)).status).toBe(202);
  });

  it('without anonymous grants refuses reads and pushes without a credential with 401, and lets credentials read', async () => {
    for (const [method, path] of [
      ['GET', '/-/status'],
      ['GET', '/metrics'],
      ['PUT', '/metrics/job/public-9'],
      ['DELETE', '/metrics/job/public-1'],
    ] as const) {
      const answer = await send(closedDoor.url, method, path);
      expect({ status: answer.status, code: answer.code, challenge: answer.challenge }, `${method} ${path}`).toEqual({
        status: 401,
        code: 'PUSHRING_UNAUTHENTICATED',
        challenge: 'Bearer realm="pushring", Basic realm="pushring"',
      });
    }
    expect((await send(closedDoor.url, 'GET', '/-/status', bearer)).status).toBe(200);
    expect((await send(closedDoor.url, 'GET', '/-/ready')).status).toBe(200);
    expect((await send(closedDoor.url, 'PUT', '/metrics/job/batch-9', bearer)).status).toBe(200);
  });

  it('counts refusals by credential and reason, and never shows a secret in the metrics', async () => {
    const text = (await send(door.url, 'GET', '/-/metrics', bearer)).body;
    expect(text).toMatch(/pushring_auth_refusals_total\{credential="batch",reason="forbidden"\} [1-9]/);
    expect(text).toMatch(/pushring_auth_refusals_total\{credential="ops",reason="forbidden"\} [1-9]/);
    expect(text).toMatch(/pushring_auth_refusals_total\{credential="ops",reason="unauthenticated"\} [1-9]/);
    expect(text).toMatch(/pushring_auth_refusals_total\{credential="unknown",reason="unauthenticated"\} [1-9]/);
    expect(text).toMatch(/pushring_auth_refusals_total\{credential="anonymous",reason="unauthenticated"\} [1-9]/);
    expect(text).toContain('pushring_auth_secrets_unreadable 0');
    expect(text).toContain('pushring_auth_throttled_addresses 0');
    expect(text).toMatch(/pushring_pushes_total\{method="PUT",code="403"\} [1-9]/);
    for (const secret of [TOKEN, PASSWORD, WRONG]) expect(text).not.toContain(secret);
  });

  it('never lets a token or password reach a backend, nor the log', async () => {
    const bytes = proxy.recorded().toString('latin1');
    // The proxy did see the pushes that were allowed (the recording is not empty by accident).
    expect(bytes).toContain('/metrics/job/batch-1');
    expect(bytes.toLowerCase()).not.toContain('authorization');
    const log = door.log() + closedDoor.log();
    expect(log).toContain('"credential":"batch"');
    expect(log).toContain('refused: out of the credential scope');
    for (const secret of [TOKEN, PASSWORD, WRONG, Buffer.from(`ops:${PASSWORD}`).toString('base64'), Buffer.from(`ops:${WRONG}`).toString('base64')]) {
      expect(bytes, 'bytes sent to a backend').not.toContain(secret);
      expect(log, 'the front door log').not.toContain(secret);
    }
  });
});

describe('without credentials', () => {
  let proxy: Awaited<ReturnType<typeof startRecordingProxy>>;
  let door: Door;
  beforeAll(async () => {
    proxy = await startRecordingProxy(gateways[1]!);
    door = await startDoor([gateways[0]!.url, proxy.url], {});
    await wipeAll();
  });
  afterAll(async () => {
    await door?.close();
    await proxy?.close();
  });

  it('takes every push and delete as today, and still keeps a client Authorization header from the backends', async () => {
    expect((await send(door.url, 'PUT', '/metrics/job/any-1')).status).toBe(200);
    expect((await send(door.url, 'POST', '/metrics/job/any-2', `Bearer ${TOKEN}`)).status).toBe(200);
    expect((await send(door.url, 'PUT', '/metrics/job/any-3', 'Basic !!!')).status).toBe(200);
    expect((await send(door.url, 'DELETE', '/metrics/job/any-1', `Bearer ${WRONG}`)).status).toBe(202);
    expect((await send(door.url, 'GET', '/-/status')).status).toBe(200);
    for (const gateway of gateways) await expectGroups(gateway, [group('any-2'), group('any-3')]);
    const bytes = proxy.recorded().toString('latin1');
    expect(bytes).toContain('/metrics/job/any-2');
    expect(bytes.toLowerCase()).not.toContain('authorization');
    expect(bytes).not.toContain(TOKEN);
  });
});

describe('secret rotation', () => {
  let door: Door;
  const file = (): string => join(dir, 'rotating.token');
  beforeAll(async () => {
    await writeFile(file(), TOKEN);
    door = await startDoor([gateways[0]!.url], {
      auth: { credentials: [{ name: 'rotating', token: { file: file() }, push: ['*'] }], secretsReloadSeconds: 1, failures: { perAddress: 1_000 } },
    });
  });
  afterAll(async () => {
    await door?.close();
  });

  it('takes a rotated token file without a restart: the new token works, the old one gets 401', async () => {
    expect((await send(door.url, 'PUT', '/metrics/job/rotation', `Bearer ${TOKEN}`)).status).toBe(200);
    expect((await send(door.url, 'PUT', '/metrics/job/rotation', `Bearer ${ROTATED}`)).status).toBe(401);
    // Replaced by rename, as a secret manager or a Kubernetes volume does it.
    await writeFile(`${file()}.new`, `${ROTATED}\n`);
    await rename(`${file()}.new`, file());
    await waitFor(async () => (await send(door.url, 'PUT', '/metrics/job/rotation', `Bearer ${ROTATED}`)).status === 200, {
      what: 'the rotated token to be accepted',
    });
    expect((await send(door.url, 'PUT', '/metrics/job/rotation', `Bearer ${TOKEN}`)).status).toBe(401);
    expect(door.log()).toContain('a secret changed: the new value is in force');
  });

  it('revokes a credential whose secret file is gone, and counts it as unreadable', async () => {
    await rename(file(), `${file()}.gone`);
    await waitFor(async () => (await send(door.url, 'PUT', '/metrics/job/rotation', `Bearer ${ROTATED}`)).status === 401, {
      what: 'the token of a removed file to be refused',
    });
    expect((await send(door.url, 'GET', '/-/metrics')).body).toContain('pushring_auth_secrets_unreadable 1');
    expect(door.log()).toContain(`"secret":"file ${file()}"`);
    for (const secret of [TOKEN, ROTATED]) expect(door.log()).not.toContain(secret);
  });
});

describe('failed authentication is limited per address', () => {
  let door: Door;
  beforeAll(async () => {
    await writeFile(join(dir, 'limited.token'), TOKEN);
    door = await startDoor([gateways[0]!.url], {
      auth: {
        credentials: [{ name: 'limited', token: { file: join(dir, 'limited.token') }, push: ['*'] }],
        anonymous: { push: ['public-*'] },
        failures: { perAddress: 3, windowSeconds: 600 },
      },
    });
  });
  afterAll(async () => {
    await door?.close();
  });

  it('answers 429 with Retry-After after perAddress failures, to valid credentials too, but not to health probes', async () => {
    for (let i = 0; i < 3; i++) expect((await send(door.url, 'PUT', '/metrics/job/guess', `Bearer ${WRONG}${i}`)).status).toBe(401);
    const throttled = await send(door.url, 'PUT', '/metrics/job/guess', `Bearer ${WRONG}`);
    expect(throttled.status).toBe(429);
    expect(throttled.code).toBe('PUSHRING_AUTH_THROTTLED');
    expect(Number(throttled.retryAfter)).toBeGreaterThan(0);
    expect(Number(throttled.retryAfter)).toBeLessThanOrEqual(600);
    // Until the window ends the address is throttled whatever it presents: a guess that happens
    // to be right must not be told apart from a wrong one.
    const valid = await send(door.url, 'PUT', '/metrics/job/guess', `Bearer ${TOKEN}`);
    expect({ status: valid.status, code: valid.code }).toEqual({ status: 429, code: 'PUSHRING_AUTH_THROTTLED' });
    // A request that needs a credential and presents none is throttled too.
    expect((await send(door.url, 'PUT', '/metrics/job/private')).status).toBe(429);
    // What anonymous access covers, and health probes, stay open.
    expect((await send(door.url, 'PUT', '/metrics/job/public-1')).status).toBe(200);
    expect((await send(door.url, 'GET', '/-/healthy', `Bearer ${WRONG}`)).status).toBe(200);
    expect((await send(door.url, 'GET', '/-/ready')).status).toBe(200);
    const metrics = (await send(door.url, 'GET', '/-/metrics')).body;
    expect(metrics).toContain('pushring_auth_throttled_addresses 1');
    expect(metrics).toMatch(/pushring_auth_refusals_total\{credential="unknown",reason="throttled"\} [1-9]/);
    expect(door.log()).toContain('too many failed authentications from this address');
    const stored = await gateways[0]!.groups();
    expect(stored.map((g) => g.labels['job'])).not.toContain('guess');
  });
});

describe('a reloaded credential list', () => {
  it('is in force without a restart: a new credential works, a removed one gets 401, an emptied list opens the door', async () => {
    await writeFile(join(dir, 'first.token'), TOKEN);
    await writeFile(join(dir, 'second.token'), ROTATED);
    const file = join(dir, 'pushring.yaml');
    const configWith = (credentials: unknown[]): Record<string, unknown> => ({
      listen: '127.0.0.1:0',
      shards: [{ name: 's0', replicas: [gateways[0]!.url] }],
      health: { intervalMs: 200, timeoutMs: 500 },
      reload: { intervalSeconds: 1 },
      log: { level: 'silent' },
      auth: { credentials, failures: { perAddress: 1_000 } },
    });
    const first = { name: 'first', token: { file: join(dir, 'first.token') }, push: ['reload-*'] };
    const second = { name: 'second', token: { file: join(dir, 'second.token') }, push: ['reload-*'] };
    await writeFile(file, stringify(configWith([first])));
    const server = await startServer(validated(configWith([first])), { handleSignals: false, configFile: { path: file, text: await readFile(file, 'utf8') } });
    try {
      expect((await send(server.url, 'PUT', '/metrics/job/reload-1', `Bearer ${TOKEN}`)).status).toBe(200);
      expect((await send(server.url, 'PUT', '/metrics/job/reload-1', `Bearer ${ROTATED}`)).status).toBe(401);
      await writeFile(file, stringify(configWith([second])));
      await waitFor(async () => (await send(server.url, 'PUT', '/metrics/job/reload-1', `Bearer ${ROTATED}`)).status === 200, {
        what: 'the credential added by a reload to be accepted',
      });
      expect((await send(server.url, 'PUT', '/metrics/job/reload-1', `Bearer ${TOKEN}`)).status).toBe(401);
      await writeFile(file, stringify(configWith([])));
      await waitFor(async () => (await send(server.url, 'PUT', '/metrics/job/anything')).status === 200, { what: 'an emptied list to open the door' });
    } finally {
      await server.close();
    }
  });
});

describe('a credential removed from the file', () => {
  const leakedToken = 'tok-leaked-3b8e1d7c9a';
  const ring = (shards: unknown[], reload: Record<string, unknown> = {}) => ({ shards, reload: { intervalSeconds: 1, ...reload } });
  const s0 = (): Record<string, unknown> => ({ name: 's0', replicas: [gateways[0]!.url] });
  // A shard nobody listens on: removing it undrained is refused, whatever it holds.
  const s1 = { name: 's1', replicas: ['http://127.0.0.1:1'] };
  const unusable = { name: 's2', replicas: ['https://127.0.0.1:1'], client: { caFile: '/nonexistent/pushring-ca.pem' } };
  it.each([
    ['a ring change is refused (an undrained shard removed)', () => ring([s0(), s1]), () => ring([s0()])],
    ['a replica file in the new configuration cannot be used', () => ring([s0()]), () => ring([s0(), unusable])],
    ['reload.liveResize is false', () => ring([s0()], { liveResize: false }), () => ring([s0(), s1], { liveResize: false })],
  ])('is refused within the reload interval while %s', async (_name, before, after) => {
    await writeFile(join(dir, 'leaked.token'), leakedToken);
    const file = join(dir, 'revoke.yaml');
    await writeFile(join(dir, 'kept.token'), TOKEN);
    const leaked = { name: 'leaked', token: { file: join(dir, 'leaked.token') }, push: ['revoke-*'] };
    const kept = { name: 'kept', token: { file: join(dir, 'kept.token') }, push: ['revoke-*'] };
    const configWith = (part: Record<string, unknown>, credentials: unknown[]): Record<string, unknown> => ({
      listen: '127.0.0.1:0',
      health: { intervalMs: 200, timeoutMs: 500 },
      log: { level: 'silent' },
      ...part,
      auth: { credentials, failures: { perAddress: 1_000 } },
    });
    await writeFile(file, stringify(configWith(before(), [leaked])));
    const server = await startServer(validated(configWith(before(), [leaked])), {
      handleSignals: false,
      configFile: { path: file, text: await readFile(file, 'utf8') },
    });
    try {
      // Authenticated (its shard may be the one nobody listens on: 503 then, never 401).
      const accepted = async (secret: string): Promise<number> => (await send(server.url, 'PUT', '/metrics/job/revoke-1', `Bearer ${secret}`)).status;
      expect([200, 503]).toContain(await accepted(leakedToken));
      // Another credential stays: an emptied list would open the door to everyone.
      await writeFile(file, stringify(configWith(after(), [kept])));
      const refused = await waitFor(
        async () => {
          const answer = await send(server.url, 'PUT', '/metrics/job/revoke-1', `Bearer ${leakedToken}`);
          return answer.status === 401 ? answer : undefined;
        },
        { what: 'the token removed from the file to be refused' },
      );
      expect(refused.code).toBe('PUSHRING_UNAUTHENTICATED');
      expect([200, 503]).toContain(await accepted(TOKEN));
    } finally {
      await server.close();
    }
  });
});
