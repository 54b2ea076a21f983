/**
 * HTTPS on the front door with certificates made by the real openssl: who can connect, which TLS
 * versions, client certificates as `clientCertificateOf` sees them, and rotation of the key pair
 * while the front door runs (the files laid out as a Kubernetes Secret volume: symlinks swapped).
 */
import { X509Certificate } from 'node:crypto';
import { copyFile, mkdir, readFile, rename, symlink, writeFile } from 'node:fs/promises';
import { createConnection, type Socket } from 'node:net';
import { join } from 'node:path';
import { connect, createServer, type ConnectionOptions, type TLSSocket } from 'node:tls';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import pino from 'pino';
import { Agent, request } from 'undici';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createCluster } from '../../src/backends/cluster.js';
import { validateConfig } from '../../src/config/load.js';
import { buildApp } from '../../src/http/app.js';
import { clientCertificateOf } from '../../src/http/tls.js';
import { validated } from '../helpers/config.js';
import { createTestCa, type KeyPair, type TestCa } from '../helpers/certs.js';
import { runPushring } from '../helpers/cli.js';
import { freePort, spawnProcess, tempDir, waitFor, type ManagedProcess } from '../helpers/processes.js';
import { startPushgateway, type Pushgateway } from '../helpers/pushgateway.js';
import { startFrontDoor, type FrontDoor } from './front-door.js';

let ca: TestCa;
let otherCa: TestCa;
let serverPair: KeyPair;
let caPem: Buffer;

const doors: FrontDoor[] = [];
const agents: Agent[] = [];
const sockets: Socket[] = [];
const processes: ManagedProcess[] = [];
const gateways: Pushgateway[] = [];

beforeAll(async () => {
  ca = await createTestCa();
  otherCa = await createTestCa('another CA');
  serverPair = await ca.server();
  caPem = await readFile(ca.caFile);
});

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(agents.splice(0).map((a) => a.close()));
  await Promise.all(doors.splice(0).map((d) => d.close()));
  for (const p of processes.splice(0)) {
    p.kill();
    await p.exited;
  }
  await Promise.all(gateways.splice(0).map((g) => g.close()));
});

async function door(
  tls: Record<string, unknown>,
  extra: { logger?: FastifyBaseLogger; beforeListen?: (app: FastifyInstance) => void } = {},
): Promise<FrontDoor> {
  const d = await startFrontDoor({ shards: 1, replicas: 1, ...extra, config: { tls } });
  doors.push(d);
  return d;
}

function portOf(d: FrontDoor): number {
  return Number(new URL(d.url).port);
}

/** A TLS connection to the door, once its handshake is done; rejects with the handshake's error. */
function tlsConnect(port: number, options: ConnectionOptions = {}): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, servername: 'localhost', ca: caPem, ...options });
    sockets.push(socket);
    socket.once('secureConnect', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** One HTTP/1.1 request on an open (keep-alive) connection; resolves with the status and body. */
function rawGet(socket: TLSSocket, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    let data = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      data = Buffer.concat([data, chunk]);
      const end = data.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = data.subarray(0, end).toString('latin1');
      const length = Number(/content-length: *(\d+)/i.exec(head)?.[1] ?? 0);
      if (data.length < end + 4 + length) return;
      socket.off('data', onData);
      socket.off('error', reject);
      resolve({ status: Number(head.split(' ')[1]), body: data.subarray(end + 4, end + 4 + length).toString('utf8') });
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n`);
  });
}

/** A client certificate to present, or none. */
interface ClientPem {
  readonly cert?: Buffer;
  readonly key?: Buffer;
}

function agent(connect: ClientPem = {}): Agent {
  const a = new Agent({ connect: { ca: caPem, servername: 'localhost', ...connect } });
  agents.push(a);
  return a;
}

function metric(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

async function metricsOf(d: FrontDoor): Promise<string> {
  const res = await request(`${d.url}/-/metrics`, { dispatcher: agent() });
  return res.body.text();
}

function serialOf(pem: Buffer | string): string {
  return new X509Certificate(pem).serialNumber;
}

/**
 * The files of a Kubernetes Secret volume: `tls.crt` and `tls.key` are symlinks through `..data`,
 * itself a symlink to a versioned directory; an update writes a new directory and swaps `..data`
 * by rename, so the files' own paths and mtimes never change.
 */
async function secretVolume(first: {
  cert: string;
  key: string;
}): Promise<{ certFile: string; keyFile: string; publish(pair: { cert: string; key: string }): Promise<void> }> {
  const dir = await tempDir('pushring-secret-');
  let version = 0;
  const publish = async (pair: { cert: string; key: string }): Promise<void> => {
    const name = `..v${++version}`;
    await mkdir(join(dir, name));
    await copyFile(pair.cert, join(dir, name, 'tls.crt'));
    await copyFile(pair.key, join(dir, name, 'tls.key'));
    await symlink(name, join(dir, '..data_tmp'));
    await rename(join(dir, '..data_tmp'), join(dir, '..data'));
  };
  await publish(first);
  await symlink(join('..data', 'tls.crt'), join(dir, 'tls.crt'));
  await symlink(join('..data', 'tls.key'), join(dir, 'tls.key'));
  return { certFile: join(dir, 'tls.crt'), keyFile: join(dir, 'tls.key'), publish };
}

describe('TLS on the front door', () => {
  it('takes pushes over HTTPS from a client that trusts its CA; one that does not fails the handshake', async () => {
    const d = await door({ certFile: serverPair.certFile, keyFile: serverPair.keyFile });
    expect(d.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const res = await request(`${d.url}/metrics/job/tls/instance/a`, { method: 'PUT', body: 'tls_pushed 1\n', dispatcher: agent() });
    await res.body.text();
    expect(res.statusCode).toBe(200);
    expect((await d.backends[0]![0]!.groups()).map((g) => g.labels)).toEqual([{ job: 'tls', instance: 'a' }]);

    const untrusting = new Agent();
    agents.push(untrusting);
    await expect(request(`${d.url}/metrics/job/tls/instance/b`, { method: 'PUT', body: 'tls_pushed 1\n', dispatcher: untrusting })).rejects.toMatchObject({
      code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    });
    await expect(tlsConnect(portOf(d), { ca: await readFile(otherCa.caFile) })).rejects.toMatchObject({ code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
    expect((await d.backends[0]![0]!.groups()).map((g) => g.labels.instance)).toEqual(['a']);
  });

  it('refuses TLS 1.1 and accepts TLS 1.2 and 1.3 by default', async () => {
    const tls11: ConnectionOptions = { minVersion: 'TLSv1.1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' };
    // The control: this client does speak TLS 1.1 to a server that allows it.
    const [key, cert] = await Promise.all([readFile(serverPair.keyFile), readFile(serverPair.certFile)]);
    const lenient = createServer({ key, cert, minVersion: 'TLSv1', ciphers: 'DEFAULT@SECLEVEL=0' }, (s) => s.end());
    await new Promise<void>((resolve) => lenient.listen(0, '127.0.0.1', resolve));
    try {
      const control = await tlsConnect((lenient.address() as { port: number }).port, tls11);
      expect(control.getProtocol()).toBe('TLSv1.1');
      control.destroy();
    } finally {
      lenient.close();
    }

    const d = await door({ certFile: serverPair.certFile, keyFile: serverPair.keyFile });
    await expect(tlsConnect(portOf(d), tls11)).rejects.toMatchObject({ code: 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION' });
    const v12 = await tlsConnect(portOf(d), { maxVersion: 'TLSv1.2' });
    expect(v12.getProtocol()).toBe('TLSv1.2');
    expect((await rawGet(v12, '/-/healthy')).status).toBe(200);
    const v13 = await tlsConnect(portOf(d));
    expect(v13.getProtocol()).toBe('TLSv1.3');
    expect((await rawGet(v13, '/-/healthy')).status).toBe(200);
  });

  it('refuses TLS 1.2 with minVersion TLSv1.3', async () => {
    const d = await door({ certFile: serverPair.certFile, keyFile: serverPair.keyFile, minVersion: 'TLSv1.3' });
    await expect(tlsConnect(portOf(d), { maxVersion: 'TLSv1.2' })).rejects.toMatchObject({ code: 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION' });
    expect((await tlsConnect(portOf(d))).getProtocol()).toBe('TLSv1.3');
  });

  it('closes a connection whose handshake does not come within server.headersTimeoutMs', async () => {
    const d = await startFrontDoor({
      shards: 1,
      replicas: 1,
      config: { tls: { certFile: serverPair.certFile, keyFile: serverPair.keyFile }, server: { headersTimeoutMs: 300 } },
    });
    doors.push(d);
    const silent = createConnection({ host: '127.0.0.1', port: portOf(d) });
    sockets.push(silent);
    silent.on('error', () => undefined);
    await new Promise<void>((resolve) => silent.once('connect', () => resolve()));
    // Node's own handshake time-out is 120 s: within the deadline only the configured one can close it.
    await waitFor(async () => silent.closed, { what: 'the front door to close a connection that never starts its handshake', timeoutMs: 10_000 });
  });

  it('refuses a TLS 1.2 renegotiation asked for by the client', async () => {
    const d = await door({ certFile: serverPair.certFile, keyFile: serverPair.keyFile });
    const socket = await tlsConnect(portOf(d), { maxVersion: 'TLSv1.2' });
    const failure = await new Promise<NodeJS.ErrnoException | null>((resolve) => {
      socket.once('error', resolve);
      socket.renegotiate({}, resolve);
    });
    expect(failure?.code).toBe('ERR_SSL_NO_RENEGOTIATION');
  });

  it('sees a client certificate signed by tls.clientCaFile by its subject; one from another CA, or none, is no certificate', async () => {
    const trusted = await ca.client('/CN=batch-1/O=team-a');
    const foreign = await otherCa.client('/CN=batch-1/O=team-a');
    const d = await door(
      { certFile: serverPair.certFile, keyFile: serverPair.keyFile, clientCaFile: ca.caFile },
      {
        beforeListen: (app) => {
          app.get('/test/whoami', async (req) => ({ certificate: clientCertificateOf(req.raw.socket) ?? null }));
        },
      },
    );
    const whoami = async (connect: ClientPem): Promise<unknown> => {
      const res = await request(`${d.url}/test/whoami`, { dispatcher: agent(connect) });
      expect(res.statusCode).toBe(200);
      return res.body.json();
    };
    const pem = async (pair: KeyPair): Promise<ClientPem> => ({ cert: await readFile(pair.certFile), key: await readFile(pair.keyFile) });
    expect(await whoami(await pem(trusted))).toEqual({ certificate: { subject: { CN: ['batch-1'], O: ['team-a'] } } });
    expect(await whoami(await pem(foreign))).toEqual({ certificate: null });
    expect(await whoami({})).toEqual({ certificate: null });

    const push = await request(`${d.url}/metrics/job/tls/instance/c`, { method: 'PUT', body: 'tls_pushed 1\n', dispatcher: agent(await pem(trusted)) });
    await push.body.text();
    expect(push.statusCode).toBe(200);
  });

  it('serves a rotated certificate to new connections without a restart; an open connection carries on', async () => {
    const volume = await secretVolume({ cert: serverPair.certFile, key: serverPair.keyFile });
    const d = await door({ certFile: volume.certFile, keyFile: volume.keyFile, reloadSeconds: 1 });
    const before = serialOf(await readFile(serverPair.certFile));
    const open = await tlsConnect(portOf(d));
    expect(open.getPeerCertificate().serialNumber).toBe(before);
    expect((await rawGet(open, '/-/healthy')).status).toBe(200);

    const rotated = await ca.server('rotated');
    const rotatedPem = await readFile(rotated.certFile);
    await volume.publish({ cert: rotated.certFile, key: rotated.keyFile });
    await waitFor(
      async () => {
        const fresh = await tlsConnect(portOf(d));
        const serial = fresh.getPeerCertificate().serialNumber;
        fresh.destroy();
        return serial === serialOf(rotatedPem);
      },
      { what: 'a new connection to be served the rotated certificate', timeoutMs: 15_000 },
    );
    const fresh = await tlsConnect(portOf(d));
    expect(fresh.getPeerCertificate().subject.CN).toBe('rotated');
    expect((await rawGet(fresh, '/-/healthy')).status).toBe(200);

    expect((await rawGet(open, '/-/healthy')).status).toBe(200);
    expect(open.getPeerCertificate().serialNumber).toBe(before);

    const metrics = await metricsOf(d);
    expect(metric(metrics, 'pushring_tls_reloads_total{result="applied"}')).toBe(1);
    expect(metric(metrics, 'pushring_tls_reloads_total{result="invalid"}')).toBe(0);
    expect(metric(metrics, 'pushring_tls_certificate_expiry_seconds')).toBe(Date.parse(new X509Certificate(rotatedPem).validTo) / 1000);
  });

  it('keeps serving the last good certificate when the replacement is invalid, and logs which file and why', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
    const volume = await secretVolume({ cert: serverPair.certFile, key: serverPair.keyFile });
    const d = await door({ certFile: volume.certFile, keyFile: volume.keyFile, reloadSeconds: 1 }, { logger });
    const served = serialOf(await readFile(serverPair.certFile));

    // One after the other: createTestCa's issues share the CA's serial file.
    const certOwner = await ca.server('mismatched');
    const keyOwner = await ca.server('other-key');
    await volume.publish({ cert: certOwner.certFile, key: keyOwner.keyFile });
    const metrics = await waitFor(
      async () => {
        const text = await metricsOf(d);
        return metric(text, 'pushring_tls_reloads_total{result="invalid"}') === 1 && text;
      },
      { what: 'the invalid pair to be counted', timeoutMs: 15_000 },
    );
    expect(metric(metrics, 'pushring_tls_reloads_total{result="applied"}')).toBe(0);
    expect(metric(metrics, 'pushring_tls_certificate_expiry_seconds')).toBe(
      Date.parse(new X509Certificate(await readFile(serverPair.certFile)).validTo) / 1000,
    );
    const fresh = await tlsConnect(portOf(d));
    expect(fresh.getPeerCertificate().serialNumber).toBe(served);
    expect((await rawGet(fresh, '/-/healthy')).status).toBe(200);

    const errors = lines.map((l) => JSON.parse(l) as { level: number; err?: string; msg: string }).filter((l) => l.level >= 50);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.err).toContain(`tls.keyFile ${volume.keyFile} is not the private key of the certificate in tls.certFile ${volume.certFile}`);
    const keyBody = (await readFile(keyOwner.keyFile, 'utf8')).split('\n')[1]!;
    expect(lines.join('')).not.toContain(keyBody);

    // A good pair after the bad one is served.
    const good = await ca.server('good-again');
    await volume.publish({ cert: good.certFile, key: good.keyFile });
    const goodSerial = serialOf(await readFile(good.certFile));
    await waitFor(
      async () => {
        const s = await tlsConnect(portOf(d));
        const serial = s.getPeerCertificate().serialNumber;
        s.destroy();
        return serial === goodSerial;
      },
      { what: 'the good pair to be served after the invalid one', timeoutMs: 15_000 },
    );
  });

  it('refuses to build with a certificate and key that do not match, naming both files', async () => {
    const other = await ca.server('other');
    const config = validated({
      shards: [{ name: 'a', replicas: ['http://127.0.0.1:1'] }],
      log: { level: 'silent' },
      tls: { certFile: serverPair.certFile, keyFile: other.keyFile },
    });
    const cluster = createCluster(config);
    try {
      expect(() => buildApp({ config, cluster, logger: false })).toThrow(
        `tls.keyFile ${other.keyFile} is not the private key of the certificate in tls.certFile ${serverPair.certFile}`,
      );
    } finally {
      await cluster.close();
    }
  });
});

describe('tls in the configuration', () => {
  const shards = [{ name: 'a', replicas: ['http://127.0.0.1:1'] }];
  it('refuses a clientCaFile that is the key file', () => {
    const result = validateConfig({ shards, tls: { certFile: 'tls.crt', keyFile: 'tls.key', clientCaFile: 'tls.key' } });
    expect(result.ok ? [] : result.problems).toEqual([
      { path: 'tls.clientCaFile', message: 'is the same file as tls.keyFile: give the CA certificates that sign client certificates, not the private key' },
    ]);
  });

  it('takes one file holding both certificate and key, and fills in the defaults', () => {
    const result = validateConfig({ shards, tls: { certFile: 'tls.pem', keyFile: 'tls.pem' } });
    expect(result.ok && result.config.tls).toEqual({ certFile: 'tls.pem', keyFile: 'tls.pem', minVersion: 'TLSv1.2', reloadSeconds: 10 });
  });
});

describe('pushring serve over TLS', () => {
  async function writeConfig(lines: string[]): Promise<{ file: string; dir: string; port: number }> {
    const dir = await tempDir('pushring-tls-serve-');
    const port = await freePort();
    const gateway = await startPushgateway();
    gateways.push(gateway);
    const file = join(dir, 'pushring.yaml');
    await writeFile(
      file,
      [`listen: "127.0.0.1:${port}"`, 'log: { level: info }', ...lines, 'shards:', `  - { name: a, replicas: ["${gateway.url}"] }`].join('\n'),
    );
    return { file, dir, port };
  }

  it('fails to start with exit 1 naming a missing key file', async () => {
    const missing = join(ca.dir, 'missing.key');
    const { file } = await writeConfig([`tls: { certFile: "${serverPair.certFile}", keyFile: "${missing}" }`]);
    const run = await runPushring(['serve', '--config', file]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`cannot read tls.keyFile ${missing} (no such file)`);
  });

  it('listens on https and says so', async () => {
    const { file, dir, port } = await writeConfig([`tls: { certFile: "${serverPair.certFile}", keyFile: "${serverPair.keyFile}" }`]);
    const logFile = join(dir, 'serve.log');
    const serve = spawnProcess(process.execPath, ['bin/pushring.js', 'serve', '--config', file], { logFile });
    processes.push(serve);
    const url = `https://127.0.0.1:${port}`;
    const dispatcher = agent();
    const ready = async (): Promise<boolean> => {
      const res = await request(`${url}/-/ready`, { dispatcher });
      await res.body.text();
      return res.statusCode === 200;
    };
    // A failure says why: the serve process's end and log (a start that failed, or a port taken meanwhile).
    let exit: number | null | undefined;
    void serve.exited.then((code) => (exit = code));
    await waitFor(() => ready().catch(() => false), { what: `${url} to be ready`, timeoutMs: 15_000 }).catch(async (err: Error) => {
      const log = await readFile(logFile, 'utf8').catch(() => '(no log)');
      throw new Error(`${err.message}; serve ${exit === undefined ? 'still runs' : `exited with ${exit}`}; its log:\n${log.slice(-3000)}`);
    });
    await waitFor(async () => (await readFile(logFile, 'utf8')).includes(`"url":"${url}"`), { what: 'the https URL in the log', timeoutMs: 5_000 });
  });
});
