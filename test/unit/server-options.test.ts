import { connect } from 'node:net';
import Fastify from 'fastify';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ServerConfig } from '../../src/config/schema.js';
import { checkingIntervalOf, goClientErrorResponse, limitServer, nodeServerLimits, pathOfTarget, serverOptions } from '../../src/http/server-options.js';
import { validated } from '../helpers/config.js';

const shards = [{ name: 'a', replicas: ['http://127.0.0.1:1'] }];
const serverOf = (server: Record<string, unknown>): ServerConfig => validated({ shards, server }).server;

describe('serverOptions maps config.server onto Fastify and Node', () => {
  it('takes the defaults as they are', () => {
    expect(serverOptions(serverOf({}))).toEqual({
      clientErrorHandler: expect.any(Function),
      rewriteUrl: expect.any(Function),
      requestTimeout: 60_000,
      keepAliveTimeout: 65_000,
      http: { maxHeaderSize: 16_384, headersTimeout: 10_000, requestTimeout: 60_000, keepAliveTimeout: 65_000, connectionsCheckingInterval: 1_000 },
    });
  });

  it.each([
    // [server config, what Node gets]
    [{ headersTimeoutMs: 200 }, { headersTimeout: 200, connectionsCheckingInterval: 50 }],
    [{ headersTimeoutMs: 2_000 }, { headersTimeout: 2_000, connectionsCheckingInterval: 500 }],
    [
      { headersTimeoutMs: 30_000, requestTimeoutMs: 5_000 },
      { headersTimeout: 5_000, requestTimeout: 5_000, connectionsCheckingInterval: 1_000 },
    ],
    [{ maxHeaderBytes: 1_048_576 }, { maxHeaderSize: 1_048_576 }],
    [{ keepAliveTimeoutMs: 100 }, { keepAliveTimeout: 100 }],
  ])('%j -> %j', (server, expected) => {
    expect(nodeServerLimits(serverOf(server))).toMatchObject(expected);
  });

  it('never gives Node a header time-out above the request time-out (its constructor would throw)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 100, max: 600_000 }), fc.integer({ min: 1_000, max: 3_600_000 }), (headersTimeoutMs, requestTimeoutMs) => {
        const limits = nodeServerLimits(serverOf({ headersTimeoutMs, requestTimeoutMs }));
        expect(limits.headersTimeout).toBeLessThanOrEqual(limits.requestTimeout);
        expect(limits.headersTimeout).toBe(Math.min(headersTimeoutMs, requestTimeoutMs));
      }),
    );
  });

  it('checks connections often enough for the header time-out, and never in a busy loop', () => {
    fc.assert(
      fc.property(fc.integer({ min: 100, max: 600_000 }), (ms) => {
        const interval = checkingIntervalOf(ms);
        expect(interval).toBeGreaterThanOrEqual(50);
        expect(interval).toBeLessThanOrEqual(1_000);
        expect(interval).toBeLessThanOrEqual(ms / 2);
      }),
    );
  });
});

describe('limitServer', () => {
  it('sets the limits on the server Fastify built, whichever it is', async () => {
    const server = serverOf({ maxConnections: 7, maxHeaderBytes: 4_096, headersTimeoutMs: 300, requestTimeoutMs: 2_000, keepAliveTimeoutMs: 900 });
    const app = Fastify();
    limitServer(app, server);
    const node = app.server as typeof app.server & { maxHeaderSize?: number; connectionsCheckingInterval?: number };
    expect({
      maxConnections: node.maxConnections,
      maxHeaderSize: node.maxHeaderSize,
      headersTimeout: node.headersTimeout,
      requestTimeout: node.requestTimeout,
      keepAliveTimeout: node.keepAliveTimeout,
      connectionsCheckingInterval: node.connectionsCheckingInterval,
    }).toEqual({ maxConnections: 7, maxHeaderSize: 4_096, headersTimeout: 300, requestTimeout: 2_000, keepAliveTimeout: 900, connectionsCheckingInterval: 75 });
    await app.close();
  });

  it('answers 414 to a URL longer than maxUrlBytes before any route sees it, and serves one at the limit', async () => {
    const app = Fastify(serverOptions(serverOf({ maxUrlBytes: 256 })));
    limitServer(app, serverOf({ maxUrlBytes: 256 }));
    app.get('/*', async () => 'routed');
    const atLimit = '/' + 'a'.repeat(255);
    expect((await app.inject({ url: atLimit })).body).toBe('routed');
    const over = await app.inject({ url: atLimit + 'a' });
    expect(over.statusCode).toBe(414);
    expect(over.headers['x-pushring-error']).toBe('PUSHRING_URI_TOO_LONG');
    expect(over.body).toContain('256 bytes (server.maxUrlBytes)');
    await app.close();
  });

  it('has Node answer 431 to headers past maxHeaderBytes, 408 to headers slower than headersTimeoutMs, 400 to a request line without a version, and a half-closed client', async () => {
    const app = Fastify(serverOptions(serverOf({ maxHeaderBytes: 1_024, headersTimeoutMs: 200, requestTimeoutMs: 1_000 })));
    limitServer(app, serverOf({ maxHeaderBytes: 1_024, headersTimeoutMs: 200, requestTimeoutMs: 1_000 }));
    app.get('/', async () => 'ok');
    app.get('/later', async () => new Promise((resolve) => setTimeout(() => resolve('answered after the client half-closed'), 50)));
    await app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = app.server.address() as { port: number };
    const exchange = (bytes: string, halfClose = false): Promise<string> =>
      new Promise((resolve) => {
        const socket = connect(port, '127.0.0.1', () => (halfClose ? socket.end(bytes) : socket.write(bytes)));
        let answer = '';
        socket.on('data', (d) => (answer += d.toString('latin1')));
        socket.on('error', () => undefined);
        socket.on('close', () => resolve(answer));
      });
    expect(await exchange(`GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(2_000)}\r\n\r\n`)).toMatch(/^HTTP\/1\.1 431 /);
    // As from a Pushgateway: shutting down the sending side does not lose the answer.
    expect(await exchange('GET /later HTTP/1.1\r\nHost: x\r\n\r\n', true)).toMatch(/^HTTP\/1\.1 200 [^]*answered after the client half-closed$/);
    expect(await exchange('GET / HTTP/1.1\r\nHost: x\r\n')).toMatch(/^HTTP\/1\.1 408 /);
    // What Node's parser refuses gets Go's bytes, not Fastify's JSON.
    expect(await exchange('GARBAGE\r\n\r\n')).toBe(goClientErrorResponse(400));
    expect(goClientErrorResponse(400)).toBe('HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n400 Bad Request');
    // Node would take it as HTTP/0.9 and run the route; a Pushgateway (Go) refuses the line.
    expect(await exchange('GET /\r\n\r\n', true)).toMatch(/^HTTP\/1\.1 400 [^]*\r\n\r\n400 Bad Request$/);
    await app.close();
  });

  describe('request targets', () => {
    it.each([
      ['/metrics/job/a', '/metrics/job/a'],
      ['http://host/metrics/job/a?x=1', '/metrics/job/a?x=1'],
      ['https://host:9091/metrics/job/a', '/metrics/job/a'],
      ['http://host', '/'],
      ['http://host?x', '/?x'],
      ['*', '*'],
      ['metrics/job/a', 'metrics/job/a'],
    ])('routes %s by %s, as Go does', (target, path) => {
      expect(pathOfTarget(target)).toBe(path);
    });
  });
});
