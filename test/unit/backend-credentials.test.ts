/**
 * What a replica's client sends and how it reads a refusal, against a loopback HTTP server that
 * records the headers it got (a stand-in for a Pushgateway's auth layer): a client's
 * `Authorization` never goes on, a write waits for the password's first read, a 401 or 403 meant
 * for pushring is a replica failure, and only handshake-time TLS errors mean "nothing was sent".
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Backend, classifyError, HANDSHAKE_TLS_ERRORS, type OutgoingRequest, type ReplicaResult } from '../../src/backends/client.js';
import { explainTlsFailure, type ResolvedClient } from '../../src/core/replicas.js';

interface Recorder {
  readonly url: string;
  readonly seen: IncomingHttpHeaders[];
  status: number;
  readonly server: Server;
}

const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((o) => o.close()));
});
const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function recorder(): Promise<Recorder> {
  const rec = { seen: [] as IncomingHttpHeaders[], status: 200 } as { seen: IncomingHttpHeaders[]; status: number; url: string; server: Server };
  rec.server = createServer((req, res) => {
    rec.seen.push(req.headers);
    req.resume();
    req.on('end', () => res.writeHead(rec.status, { 'content-type': 'text/plain' }).end(rec.status === 401 ? 'Unauthorized\n' : ''));
  });
  await new Promise<void>((resolve) => rec.server.listen(0, '127.0.0.1', resolve));
  rec.url = `http://127.0.0.1:${(rec.server.address() as AddressInfo).port}`;
  open.push({ close: () => new Promise<void>((resolve) => rec.server.close(() => resolve())) });
  return rec;
}

function backend(url: string, client?: ResolvedClient): Backend {
  const b = new Backend({
    shard: 's',
    replica: '0',
    url,
    connections: 2,
    connectTimeoutMs: 2_000,
    timeoutMs: 5_000,
    probeTimeoutMs: 2_000,
    upAfterProbes: 1,
    ...(client === undefined ? {} : { client }),
    secretsReloadMs: 60_000,
  });
  open.push({ close: () => b.close() });
  return b;
}

async function passwordFile(value: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'pushring-backend-credentials-'));
  dirs.push(dir);
  const file = join(dir, 'password');
  await writeFile(file, value);
  return file;
}

const basic = (file: string): ResolvedClient => ({
  basicAuth: { username: 'pushring', password: { file }, path: 'shards[0].client.basicAuth' },
  paths: {},
});

const push: OutgoingRequest = {
  group: 'job\0j',
  method: 'PUT',
  path: '/metrics/job/j',
  headers: ['content-type', 'text/plain', 'authorization', 'Basic Y2xpZW50OnNlY3JldA=='],
  body: Buffer.from('m 1\n'),
  receivedAt: 0,
};

function write(b: Backend, request: OutgoingRequest = push): Promise<ReplicaResult> {
  return new Promise((resolve) => b.send(request, { settle: (_i, result) => resolve(result) }, 0));
}

describe("a replica's credentials", () => {
  it("never forwards a client's Authorization to a replica without basic auth (a replayed hint of an older version)", async () => {
    const rec = await recorder();
    const b = backend(rec.url);
    // handoff.ts replays hints through call(); a hint of an older version still carries the header.
    await b.call('PUT', push.path, push.body, push.headers);
    expect(await write(b)).toMatchObject({ status: 200 });
    expect(rec.seen).toHaveLength(2);
    for (const headers of rec.seen) expect(headers.authorization).toBeUndefined();
    expect(rec.seen[0]!['content-type']).toBe('text/plain');
  });

  it("sends pushring's own password instead of a client's, even on a write sent before the password was first read", async () => {
    const rec = await recorder();
    const b = backend(rec.url, basic(await passwordFile('s3cret\n')));
    // At once after construction, as a Backend made by a reload is used: the read is still under way.
    const result = await write(b);
    expect(result).toMatchObject({ status: 200 });
    expect(rec.seen.map((h) => h.authorization)).toEqual([`Basic ${Buffer.from('pushring:s3cret').toString('base64')}`]);
  });

  it('does not send a write when the password cannot be read, and marks the replica down saying where', async () => {
    const rec = await recorder();
    const b = backend(rec.url, basic('/nonexistent/pushring-password'));
    const downs: string[] = [];
    b.onHealthChange((_b, up, reason) => up || downs.push(reason));
    const result = await write(b);
    expect(result).toMatchObject({ failure: 'unreachable' });
    expect(rec.seen).toEqual([]);
    expect(b.up).toBe(false);
    expect(downs).toHaveLength(1);
    expect(downs[0]).toContain('/nonexistent/pushring-password');
  });

  it.each([
    ['a 401 to a replica with basic auth', 401, true, 'failure'],
    ['a 403 to a replica with basic auth', 403, true, 'failure'],
    ['a 401 to a replica without credentials (a challenge can only be to pushring)', 401, false, 'failure'],
    ['a 403 to a replica without credentials (a policy about the push)', 403, false, 403],
    ['a 400 to a replica with basic auth', 400, true, 400],
  ] as const)('%s: %s', async (_name, status, withAuth, expected) => {
    const rec = await recorder();
    rec.status = status;
    const b = backend(rec.url, withAuth ? basic(await passwordFile('s3cret')) : undefined);
    const result = await write(b);
    if (expected === 'failure') {
      expect(result).toMatchObject({ failure: 'unreachable' });
      expect((result as { error?: Error }).error?.message).toMatch(withAuth ? /refused pushring's credentials/ : /asks for credentials/);
      expect(b.up, 'marked down by the write').toBe(false);
    } else {
      expect(result).toMatchObject({ status: expected });
      expect(b.up).toBe(true);
    }
    for (const text of [JSON.stringify(result), String((result as { error?: Error }).error?.message)]) expect(text).not.toContain('s3cret');
  });
});

describe('classifyError', () => {
  const withCode = (code: string): Error => Object.assign(new Error(code), { code });
  it.each([
    ['ECONNREFUSED', 'unreachable'],
    ['UND_ERR_CONNECT_TIMEOUT', 'unreachable'],
    ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'unreachable'],
    ['ERR_TLS_CERT_ALTNAME_INVALID', 'unreachable'],
    ['ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED', 'unreachable'],
    ['ERR_SSL_WRONG_VERSION_NUMBER', 'unreachable'],
    // Record-layer errors on a reused keep-alive connection: the request may have gone out.
    ['ERR_SSL_DECRYPTION_FAILED_OR_BAD_RECORD_MAC', 'unknown'],
    ['ERR_SSL_SSLV3_ALERT_BAD_RECORD_MAC', 'unknown'],
    ['ERR_SSL_UNEXPECTED_EOF_WHILE_READING', 'unknown'],
    ['ECONNRESET', 'unknown'],
    ['UND_ERR_SOCKET', 'unknown'],
    ['UND_ERR_HEADERS_TIMEOUT', 'timeout'],
  ])('%s is %s', (code, expected) => {
    expect(classifyError(withCode(code))).toBe(expected);
    expect(classifyError(Object.assign(new Error('wrapped'), { cause: withCode(code) }))).toBe(expected);
  });

  it('holds exactly the TLS codes explainTlsFailure explains one by one', () => {
    for (const code of HANDSHAKE_TLS_ERRORS) expect(explainTlsFailure(code, undefined, undefined), code).not.toBe(`TLS handshake failed (${code})`);
    expect(explainTlsFailure('ERR_SSL_DECRYPTION_FAILED_OR_BAD_RECORD_MAC', undefined, undefined)).toBe(
      'TLS handshake failed (ERR_SSL_DECRYPTION_FAILED_OR_BAD_RECORD_MAC)',
    );
  });
});
