/**
 * Slow and greedy clients (issue 13): hundreds of sockets trickling a request a byte at a time
 * cost the pushes around them nothing and are cut by `server.headersTimeoutMs`; past
 * `server.maxConnections` a new connection is closed at once, and pushes are served again once
 * the excess goes; past `server.maxInflightBodyBytes` of bodies held at once a push is answered
 * 503 before its body is read, and served again once they go. Real `pushring serve` processes over real Pushgateways; the open connections
 * are read from the kernel (/proc/net/tcp), the server's side of each.
 */
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, spawnProcess, tempDir, waitFor, type ManagedProcess } from '../helpers/processes.js';
import { startPushgateway, type Pushgateway } from '../helpers/pushgateway.js';

const TRICKLERS = 300;
const HEADERS_TIMEOUT_MS = 2_000;
const MAX_CONNECTIONS = 20;

let backends: Pushgateway[] = [];
const doors: ManagedProcess[] = [];

async function startServe(serverLine: string, judgeLine = 'judge: { mode: front-door }'): Promise<number> {
  const dir = await tempDir('pushring-slow-');
  const port = await freePort();
  const file = join(dir, 'pushring.yaml');
  await writeFile(
    file,
    [
      `listen: "127.0.0.1:${port}"`,
      'log: { level: warn }',
      'health: { intervalMs: 500, timeoutMs: 1000 }',
      judgeLine,
      serverLine,
      'shards:',
      `  - { name: a, replicas: [${backends.map((b) => `"${b.url}"`).join(', ')}] }`,
    ].join('\n'),
  );
  doors.push(spawnProcess(process.execPath, ['bin/pushring.js', 'serve', '--config', file], { logFile: join(dir, 'serve.log') }));
  await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/-/ready`, { headers: { connection: 'close' } })).ok, {
    what: `the front door on ${port} to be ready`,
    timeoutMs: 15_000,
  });
  return port;
}

beforeAll(async () => {
  backends = await Promise.all([0, 1].map(() => startPushgateway({ args: ['--push.disable-consistency-check'] })));
}, 60_000);

afterAll(async () => {
  for (const d of doors) {
    d.kill();
    await d.exited;
  }
  await Promise.all(backends.map((b) => b.close()));
});

/** Connections the front door's side holds open on `port` (ESTABLISHED), from the kernel's table. */
function openConnections(port: number): number {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  return readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .slice(1)
    .filter((line) => {
      const fields = line.trim().split(/\s+/);
      return fields[1]?.endsWith(`:${hexPort}`) === true && fields[3] === '01';
    }).length;
}

/** One push on its own connection: the status, or `closed` when the connection ended unanswered. */
function pushOnce(port: number, value: number): Promise<number | 'closed'> {
  const body = `# TYPE slow_clients_push gauge\nslow_clients_push ${value}\n`;
  const request = `PUT /metrics/job/slow_clients/instance/normal HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
  return new Promise((resolve) => {
    let answer = '';
    const socket = connect(port, '127.0.0.1', () => socket.write(request));
    socket.on('data', (d: Buffer) => (answer += d.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      const status = /^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1];
      resolve(status === undefined ? 'closed' : Number(status));
    });
  });
}

interface Trickler {
  readonly closed: Promise<{ afterMs: number; answer: string }>;
  destroy(): void;
}

/** A socket sending a push's headers one byte every `everyMs`; resolves when the server closes it. */
function trickle(port: number, everyMs: number): Trickler {
  const bytes = Buffer.from(`PUT /metrics/job/slow_clients/instance/trickler HTTP/1.1\r\nHost: x\r\nX-Padding: ${'p'.repeat(1_000)}\r\n\r\n`);
  const started = Date.now();
  let socket: Socket | undefined;
  let timer: NodeJS.Timeout | undefined;
  const closed = new Promise<{ afterMs: number; answer: string }>((resolve) => {
    let answer = '';
    let sent = 0;
    socket = connect(port, '127.0.0.1', () => {
      timer = setInterval(() => {
        if (sent < bytes.length) socket!.write(bytes.subarray(sent, ++sent));
      }, everyMs);
    });
    socket.on('data', (d: Buffer) => (answer += d.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearInterval(timer);
      resolve({ afterMs: Date.now() - started, answer });
    });
  });
  return { closed, destroy: () => socket?.destroy() };
}

const summary = (ms: readonly number[]): string => {
  const sorted = [...ms].sort((a, b) => a - b);
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return `min ${sorted[0]} ms, median ${at(0.5)} ms, p99 ${at(0.99)} ms, max ${sorted.at(-1)} ms`;
};

describe('slow clients', () => {
  it(`${TRICKLERS} sockets trickling their headers are cut by the header time-out while every push is answered 200`, async () => {
    const port = await startServe(`server: { headersTimeoutMs: ${HEADERS_TIMEOUT_MS} }`);
    const before = openConnections(port);
    const tricklers = Array.from({ length: TRICKLERS }, () => trickle(port, 100));
    const all = Promise.all(tricklers.map((t) => t.closed));
    let allClosed = false;
    void all.then(() => (allClosed = true));
    let peak = 0;
    const pushMs: number[] = [];
    const statuses: (number | 'closed')[] = [];
    // Pushes go on for as long as any trickler is connected, and a few more after.
    for (let i = 0; !allClosed || i < 20; i++) {
      peak = Math.max(peak, openConnections(port));
      const started = Date.now();
      statuses.push(await pushOnce(port, i));
      pushMs.push(Date.now() - started);
      if (i > 100_000) throw new Error('the trickling sockets were never closed');
    }
    const closes = await all;
    console.log(
      `${TRICKLERS} tricklers (a byte every 100 ms, server.headersTimeoutMs ${HEADERS_TIMEOUT_MS}): closed after ${summary(closes.map((c) => c.afterMs))}; ` +
        `${statuses.length} pushes meanwhile: ${summary(pushMs)}; open connections before ${before}, peak ${peak}`,
    );
    expect(
      statuses.filter((s) => s !== 200),
      'every push answered 200',
    ).toEqual([]);
    expect(peak, 'the tricklers were open at once').toBeGreaterThanOrEqual(TRICKLERS / 2);
    expect(
      closes.filter((c) => !c.answer.startsWith('HTTP/1.1 408 ')),
      'every trickler is answered 408 and closed',
    ).toEqual([]);
    const after = await waitFor(async () => (openConnections(port) <= before + 1 ? openConnections(port) : undefined), {
      what: 'the front door to hold no more connections than before the tricklers',
    });
    console.log(`open connections after: ${after}`);
  }, 120_000);

  it('closes a connection on which no request begins within the header time-out, and keeps one that pushes', async () => {
    const port = await startServe(`server: { headersTimeoutMs: ${HEADERS_TIMEOUT_MS} }`);
    const silent = Array.from({ length: 20 }, () => {
      const socket = connect(port, '127.0.0.1');
      socket.on('error', () => undefined);
      return new Promise<string>((resolve) => socket.on('close', () => resolve('closed')));
    });
    // A keep-alive connection that pushed is never one of them: the same socket pushes again after.
    const kept = connect(port, '127.0.0.1');
    kept.on('error', () => undefined);
    let answers = '';
    kept.on('data', (d: Buffer) => (answers += d.toString('latin1')));
    const push = (i: number): void => {
      const body = `kept ${i}\n`;
      kept.write(`PUT /metrics/job/slow_clients/instance/kept HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    };
    const answered = (n: number) => waitFor(async () => (answers.match(/HTTP\/1\.1 200 /g) ?? []).length >= n, { what: `${n} answers on the kept connection` });
    push(0);
    await answered(1);
    await expect(Promise.all(silent)).resolves.toEqual(silent.map(() => 'closed'));
    expect(kept.destroyed, 'the connection that pushed is still open').toBe(false);
    push(1);
    await answered(2);
    kept.destroy();
  }, 60_000);

  it(`past server.maxConnections (${MAX_CONNECTIONS}) a new connection is closed at once, and pushes are served again once the excess goes`, async () => {
    // A header time-out far longer than the test: the held connections stay until the test lets them go.
    const port = await startServe(`server: { maxConnections: ${MAX_CONNECTIONS}, headersTimeoutMs: 600000, requestTimeoutMs: 600000 }`);
    expect(await pushOnce(port, 1)).toBe(200);
    // Its connection is gone before the held ones come, or one of them would be the one refused.
    await waitFor(async () => openConnections(port) === 0 || undefined, { what: 'the first push to leave no connection behind' });
    const held = Array.from({ length: MAX_CONNECTIONS }, () => trickle(port, 60_000));
    await waitFor(async () => openConnections(port) >= MAX_CONNECTIONS || undefined, { what: `${MAX_CONNECTIONS} connections to be open` });
    const started = Date.now();
    const refused = await pushOnce(port, 2);
    const refusedMs = Date.now() - started;
    expect(refused, 'a push past maxConnections is closed unanswered').toBe('closed');
    for (const h of held) h.destroy();
    await Promise.all(held.map((h) => h.closed));
    const served = await waitFor(async () => ((await pushOnce(port, 3)) === 200 ? Date.now() : undefined), {
      what: 'a push to be served once the held connections are gone',
    });
    console.log(
      `maxConnections ${MAX_CONNECTIONS}: a push past it was closed after ${refusedMs} ms; served again ${served - started - refusedMs} ms after the held connections were let go`,
    );
  }, 60_000);

  it('past server.maxInflightBodyBytes of bodies held at once, a push is answered 503 before its body is read; served again once they go', async () => {
    const MiB = 1024 * 1024;
    const port = await startServe(
      `server: { maxInflightBodyBytes: ${3 * MiB} }\nwrite: { maxBodyBytes: ${MiB} }`,
      `judge: { mode: front-door, maxInflatedBytes: ${MiB} }`,
    );
    const large = (value: number) =>
      fetch(`http://127.0.0.1:${port}/metrics/job/slow_clients/instance/large`, {
        method: 'PUT',
        headers: { connection: 'close' },
        body: `# ${'padding '.repeat(25_000)}\nslow_clients_large ${value}\n`,
      });
    // Requests that are not writes (a push path the Pushgateway refuses, a 404, a 405) declaring
    // large bodies that never come: their bodies are not the front door's to keep, and reserve nothing.
    const notWrites = ['PUT /metrics/job@base64/!!', 'POST /anything', 'PUT /metrics', 'PATCH /metrics/job/slow_clients'].map((line) => {
      const socket = connect(port, '127.0.0.1', () => socket.write(`${line} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\nheld_`));
      socket.on('error', () => undefined);
      return socket;
    });
    await waitFor(async () => openConnections(port) >= notWrites.length || undefined, { what: 'the requests that are not writes to be open' });
    expect((await large(0)).status).toBe(200);
    for (const socket of notWrites) socket.destroy();
    // Three pushes declaring 1,000,000 bytes each, their bodies not sent: held by the front door.
    const held = Array.from({ length: 3 }, (_, i) => {
      const socket = connect(port, '127.0.0.1', () =>
        socket.write(`PUT /metrics/job/slow_clients/instance/held${i} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\nheld_`),
      );
      socket.on('error', () => undefined);
      return socket;
    });
    await waitFor(async () => openConnections(port) >= 3 || undefined, { what: 'the three held pushes to be open' });
    // The budget fills as the held requests' headers arrive: poll until a large push meets it.
    const refused = await waitFor(
      async () => {
        const res = await large(1);
        return res.status === 503 ? res : undefined;
      },
      { what: 'a 200 kB push to be refused while 3 MB of bodies are held' },
    );
    expect(refused.headers.get('x-pushring-error')).toBe('PUSHRING_OVERLOADED');
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(await refused.text()).toContain('server.maxInflightBodyBytes');
    // A small push still fits beside them.
    expect(await pushOnce(port, 4)).toBe(200);
    for (const socket of held) socket.destroy();
    // Aborted requests give their bytes back.
    await waitFor(async () => (await large(2)).status === 200 || undefined, { what: 'the large push to be served once the held bodies are gone' });
    expect((await backends[0]!.groups()).map((g) => g.labels['instance'])).toContain('large');
  }, 60_000);
});
