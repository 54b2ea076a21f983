/**
 * What a slow or hostile client can cost the front door (config `server`): connections, header
 * and URL sizes, and time-outs. Node answers each limit itself (431, 408, a closed connection);
 * only the URL limit is pushring's own (414). What each costs a client, beside a Pushgateway's
 * answers to the same input, is in docs/security.md.
 */
import { STATUS_CODES, type IncomingMessage, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { ServerConfig } from '../config/schema.js';
import { declaredBodyBytes, OVERLOADED_RETRY_AFTER, type BodyBudget } from './body-budget.js';
import { sendError } from './errors.js';
import { groupingPathOf } from './request-path.js';
import { TEXT, isPushMethod, sendBadRequestLine } from './go-compat.js';

/** The limits as Node's HTTP server takes them (http.createServer's options, and its properties). */
export interface NodeServerLimits {
  readonly maxHeaderSize: number;
  readonly headersTimeout: number;
  readonly requestTimeout: number;
  readonly keepAliveTimeout: number;
  readonly connectionsCheckingInterval: number;
}

/** What Fastify is built with: its own time-outs, the plain-HTTP server's options, and the answer to a request Node could not parse. */
export interface FastifyServerLimits {
  readonly requestTimeout: number;
  readonly keepAliveTimeout: number;
  readonly http: NodeServerLimits;
  readonly clientErrorHandler: (error: { readonly code?: string }, socket: Socket) => void;
  readonly rewriteUrl: (request: IncomingMessage) => string;
}

/**
 * The path and query of a request target: an absolute-form target (`PUT http://host/metrics/job/a`,
 * what a client talking to a proxy sends) is routed by its path, as Go's server does; Node hands
 * it over whole.
 */
export function pathOfTarget(target: string): string {
  if (target.charCodeAt(0) === 0x2f) return target;
  const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*/.exec(target);
  if (scheme === null) return target;
  const rest = target.slice(scheme[0].length);
  return rest.startsWith('/') ? rest : `/${rest}`;
}

/**
 * Node enforces the header and request time-outs by walking its connections on a timer (30 s by
 * default), so a time-out is late by up to one period: a quarter of the header time-out keeps
 * that lateness small, and a floor and a ceiling keep the walk cheap and prompt.
 */
export function checkingIntervalOf(headersTimeoutMs: number): number {
  return Math.min(1_000, Math.max(50, Math.floor(headersTimeoutMs / 4)));
}

export function nodeServerLimits(server: ServerConfig): NodeServerLimits {
  return {
    maxHeaderSize: server.maxHeaderBytes,
    // Node refuses to build a server whose header time-out exceeds its request time-out; the
    // request time-out bounds the headers too, so the smaller one is what a client really gets.
    headersTimeout: Math.min(server.headersTimeoutMs, server.requestTimeoutMs),
    requestTimeout: server.requestTimeoutMs,
    keepAliveTimeout: server.keepAliveTimeoutMs,
    connectionsCheckingInterval: checkingIntervalOf(Math.min(server.headersTimeoutMs, server.requestTimeoutMs)),
  };
}

/**
 * Options Fastify is built with. `http` reaches the plain-HTTP server only (Fastify hands the
 * `https` options to an HTTPS server instead), so limitServer sets the same limits again on
 * whichever server was built. No `maxRequestsPerSocket`: a keep-alive client sending many
 * pushes is what a batch job does, and each request is bounded on its own.
 */
export function serverOptions(server: ServerConfig): FastifyServerLimits {
  const http = nodeServerLimits(server);
  return {
    requestTimeout: http.requestTimeout,
    keepAliveTimeout: http.keepAliveTimeout,
    http,
    clientErrorHandler: answerClientError,
    rewriteUrl: (request) => pathOfTarget(request.url ?? '/'),
  };
}

/**
 * A request Node's parser refused, a header block past the limit, a time-out: answered as Go's
 * HTTP server answers (plain text, the status as the body, connection closed) instead of
 * Fastify's JSON, and without a log line: a client's mistake costs no more than its answer.
 */
export function answerClientError(error: { readonly code?: string }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const status = error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : error.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  // As Go does (closeWriteAndWait): send the answer and our FIN, keep reading and discarding what
  // the client is still sending, and close a moment later. Closing at once with its bytes unread
  // resets the connection, and a reset can discard the answer before the client reads it.
  socket.end(goClientErrorResponse(status));
  socket.resume();
  setTimeout(() => socket.destroy(), ANSWER_LINGER_MS).unref();
}

/** How long a refused connection stays open for its answer to be read (Go's rstAvoidanceDelay). */
const ANSWER_LINGER_MS = 500;

/** Go's answer to a request its server refuses before any handler (net/http server.go). */
export function goClientErrorResponse(status: number): string {
  const line = `${status} ${STATUS_CODES[status] ?? ''}`;
  return `HTTP/1.1 ${line}\r\nContent-Type: ${TEXT}\r\nConnection: close\r\n\r\n${line}`;
}

/**
 * Limits applied to the Node server once built, before it listens (the connection checker
 * starts on 'listening' and reads the interval then): connections, header size and time-outs,
 * for HTTP and HTTPS alike; and, as the first onRequest hook, before any other hook or handler
 * looks at the request line: the URL limit, and Go's refusal of a request line without a version.
 */
export function limitServer(app: FastifyInstance, server: ServerConfig): void {
  const limits = nodeServerLimits(server);
  // Not every option is a documented property; each was checked to take effect when set before listen.
  const node = app.server as Server & { maxHeaderSize?: number; connectionsCheckingInterval?: number; httpAllowHalfOpen?: boolean };
  node.maxConnections = server.maxConnections;
  node.maxHeaderSize = limits.maxHeaderSize;
  node.headersTimeout = limits.headersTimeout;
  node.requestTimeout = limits.requestTimeout;
  node.keepAliveTimeout = limits.keepAliveTimeout;
  node.connectionsCheckingInterval = limits.connectionsCheckingInterval;
  // A client that shuts down its sending side once its request is out (`nc -N`, some HTTP/1.0
  // clients) still gets its answer from a Pushgateway; Node would drop a push in flight unanswered.
  node.httpAllowHalfOpen = true;
  closeSilentConnections(app, node, limits.headersTimeout);
  const maxUrlBytes = server.maxUrlBytes;
  app.addHook('onRequest', (request, reply, done) => {
    // A request line without a version (`PUT /metrics/job/a`) is HTTP/0.9 to Node, and an empty
    // PUT would then replace a group; Go refuses the line, so does pushring, as Go does.
    if (request.raw.httpVersionMajor === 0) {
      void sendBadRequestLine(reply.code(400));
      return;
    }
    // Node hands the request target over as latin1: one character per byte received.
    if (request.raw.url !== undefined && request.raw.url.length > maxUrlBytes) {
      void sendError(reply, 'PUSHRING_URI_TOO_LONG', { limitBytes: maxUrlBytes });
      return;
    }
    done();
  });
}

/**
 * A connection that sends no byte within `afterMs` of its opening (of its TLS handshake's end) is
 * closed: Node's own header time-out counts from a request's first byte, so a client could
 * otherwise hold a connection (of server.maxConnections) for ever by sending nothing. One that
 * has begun a request is left to Node's time-out (its 408). Watched by the socket's byte count
 * and the server's 'request' event, not a 'data' listener, which would take every connection off
 * Node's native parsing. When the app closes, connections that never carried a request are
 * closed at once: nothing is in flight on them, and Node's close would wait for them (a client's
 * pool may open one it never uses).
 */
function closeSilentConnections(app: FastifyInstance, node: Server, afterMs: number): void {
  const silent = new Map<Socket, NodeJS.Timeout>();
  const forget = (socket: Socket): void => {
    clearTimeout(silent.get(socket));
    silent.delete(socket);
  };
  const watch = (socket: Socket): void => {
    // Over TLS the handshake's bytes are counted already.
    const before = socket.bytesRead;
    // Judged after the event loop's next poll: bytes that arrived while it was busy are counted first.
    const timer = setTimeout(
      () =>
        setImmediate(() => {
          if (!silent.has(socket)) return;
          silent.delete(socket);
          if (socket.bytesRead === before) socket.destroy();
        }),
      afterMs,
    );
    timer.unref();
    silent.set(socket, timer);
    socket.once('close', () => forget(socket));
  };
  const tls = 'setSecureContext' in node;
  node.on(tls ? 'secureConnection' : 'connection', watch);
  node.on('request', (request: IncomingMessage) => {
    if (silent.size > 0 && silent.has(request.socket)) forget(request.socket);
  });
  app.addHook('preClose', (done) => {
    for (const socket of [...silent.keys()]) {
      forget(socket);
      if (socket.bytesRead === 0) socket.destroy();
    }
    done();
  });
}

/**
 * Only a write's body is read: a PUT, POST or DELETE on a push path that parses (a DELETE's body
 * is gunzipped and judged too, as a Pushgateway does). It is reserved in `budget` when its headers
 * arrive (an onRequest hook registered after auth's, so a refused request reserves nothing) and
 * given back when its answer is sent or its connection ends; a write that does not fit is
 * answered 503 PUSHRING_OVERLOADED without reading its body. Any other request's body (a 404, a
 * 405, a path the Pushgateway refuses or redirects) is discarded as it arrives, never held: its
 * answer does not depend on it.
 */
export function limitBodies(app: FastifyInstance, budget: BodyBudget, maxBodyBytes: number): void {
  const writes = new WeakSet<object>();
  app.addHook('onRequest', (request, reply, done) => {
    const method = request.method;
    if (!isPushMethod(method) || !groupingPathOf(request).ok) {
      done();
      return;
    }
    if (!budget.take(request.raw, declaredBodyBytes(request.headers, maxBodyBytes))) {
      void sendError(reply, 'PUSHRING_OVERLOADED', { limitBytes: budget.maxBytes }, OVERLOADED_RETRY_AFTER);
      return;
    }
    writes.add(request.raw);
    // The response's close: after it is sent, or when the connection ends first (an aborted body).
    reply.raw.once('close', () => budget.release(request.raw));
    done();
  });
  app.addHook('preParsing', (request, _reply, payload, done) => {
    if (writes.has(request.raw)) {
      done(null, payload);
      return;
    }
    // Drained, not kept; the parser reads an empty body told the length the client declared.
    payload.resume();
    const empty = Object.assign(Readable.from([]), { receivedEncodedLength: Number(request.headers['content-length'] ?? 0) || 0 });
    done(null, empty);
  });
}
