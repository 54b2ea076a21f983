/**
 * Hostile requests for the fuzz test, generated from a seed: the same seed gives the same bytes.
 * Each request is raw bytes written to a fresh TCP connection, so nothing between the generator
 * and the server fixes them up (no client library validates a method, a path or a header).
 * Groups come from small pools, so that a checked Pushgateway holding them stays fast.
 */
import { connect } from 'node:net';
import { gzipSync } from 'node:zlib';
import { parseGroupingPath } from '../../src/core/grouping-key.js';
import { encodeDelimitedMetricFamilies, PROTOBUF_CONTENT_TYPE, type SimpleMetricType } from './protobuf.js';
import { createRandom, type Random } from './random.js';

export interface FuzzRequest {
  /** Position in the sequence, from 0. */
  readonly index: number;
  /** What kind of request it is (`path/base64`, `raw/pipelined`, …), for the report. */
  readonly kind: string;
  readonly bytes: Buffer;
  /** Close the connection at once after this many bytes, without waiting for an answer. */
  readonly abortAfter?: number;
}

const JOBS = ['fuzz_a', 'fuzz_b', 'fuzz_c', 'x', 'j\u00fcrgen', 'with space', 'a.b-c'];
const LABEL_NAMES = ['instance', 'zone', 'a', 'le', 'replica', 'shard', '__name__', '1bad', 'bad-name', 'job', ''];
const LABEL_VALUES = ['i0', 'i1', '', 'eu/west', 'v\u00e9', '..', '.', '%', 'x y'];
const METHODS = ['PUT', 'POST', 'DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'TRACE', 'PROPFIND', 'MKCOL', 'M-SEARCH', 'put', 'FOO', 'CONNECT', 'PURGE'];
const CONTENT_TYPES = [
  undefined,
  'text/plain; version=0.0.4',
  'text/plain',
  'text/plain; version=0.0.4; charset=utf-8',
  PROTOBUF_CONTENT_TYPE,
  'application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=text',
  'application/vnd.google.protobuf',
  'application/json',
  'text',
  ';;;',
  '',
  'application/openmetrics-text; version=1.0.0',
];
const OTHER_PATHS = [
  '/',
  '/metrics',
  '/api/v1/metrics',
  '/api/v1/status',
  '/-/healthy',
  '/-/ready',
  '/metrics/job',
  '/metricsjob/a',
  '*',
  '/static/../metrics',
];

/** A family's text: names and types from small pools, so that pushes sometimes disagree on a type. */
function textBody(r: Random): Buffer {
  const lines: string[] = [];
  const families = 1 + r.below(3);
  for (let f = 0; f < families; f++) {
    const name = r.pick(['fuzz_m', 'fuzz_n', 'fuzz_h', 'up', 'push_time_seconds', 'fuzz_m_bucket', 'fuzz_m_count']);
    const type = r.pick(['gauge', 'counter', 'untyped', 'summary', 'histogram', 'bogus', undefined]);
    if (r.chance(0.5)) lines.push(`# HELP ${name} ${r.pick(['help', 'other help', 'h\\n'])}`);
    if (type !== undefined) lines.push(`# TYPE ${name} ${type}`);
    const series = 1 + r.below(3);
    for (let s = 0; s < series; s++) {
      const labels = r.chance(0.5) ? `{${r.pick(['k', 'instance', 'job', 'le', 'quantile'])}="${r.pick(['v', '', '0.5', '+Inf'])}"}` : '';
      const suffix = type === 'histogram' ? r.pick(['_bucket', '_sum', '_count', '']) : '';
      lines.push(`${name}${suffix}${labels} ${r.pick(['1', '0', '-1.5', 'NaN', '+Inf', 'x', '1e400', ''])}${r.chance(0.1) ? ' 1700000000000' : ''}`);
    }
  }
  return Buffer.from(lines.join(r.chance(0.05) ? '\r\n' : '\n') + (r.chance(0.9) ? '\n' : ''));
}

function protobufBody(r: Random): Buffer {
  const types: SimpleMetricType[] = ['COUNTER', 'GAUGE', 'UNTYPED'];
  return encodeDelimitedMetricFamilies(
    Array.from({ length: 1 + r.below(2) }, () => ({
      name: r.pick(['fuzz_m', 'fuzz_p', 'up']),
      type: r.pick(types),
      ...(r.chance(0.5) ? { help: r.pick(['help', 'other']) } : {}),
      metrics: Array.from({ length: 1 + r.below(2) }, () => ({ value: r.below(100), ...(r.chance(0.4) ? { labels: { k: r.pick(['v', 'w', '']) } } : {}) })),
    })),
  );
}

/** A body and the headers that announce it (Content-Type, Content-Encoding). */
function bodyOf(r: Random): { kind: string; body: Buffer; headers: string[] } {
  const roll = r.below(100);
  let kind: string;
  let body: Buffer;
  let contentType = r.pick(CONTENT_TYPES);
  if (roll < 40) {
    kind = 'text';
    body = textBody(r);
  } else if (roll < 55) {
    kind = 'protobuf';
    body = protobufBody(r);
    if (r.chance(0.8)) contentType = PROTOBUF_CONTENT_TYPE;
  } else if (roll < 65) {
    kind = 'truncated';
    const whole = r.chance(0.5) ? textBody(r) : protobufBody(r);
    body = whole.subarray(0, r.below(whole.length));
  } else if (roll < 75) {
    kind = 'garbage';
    body = r.bytes(r.below(300));
  } else if (roll < 85) {
    kind = 'empty';
    body = Buffer.alloc(0);
  } else if (roll < 88) {
    // Over the front door's write.maxBodyBytes in the fuzz config (64 KiB).
    kind = 'big';
    body = Buffer.alloc(70_000 + r.below(10_000), 'fuzz_m 1\n');
  } else {
    kind = 'gzip';
    const plain = r.chance(0.5) ? textBody(r) : protobufBody(r);
    const variant = r.below(4);
    if (variant === 0) body = gzipSync(plain);
    else if (variant === 1) {
      kind = 'gzip/truncated';
      const z = gzipSync(plain);
      body = z.subarray(0, r.below(z.length));
    } else if (variant === 2) {
      // Inflates to 8 MiB: past the front door's judge.maxInflatedBytes in the fuzz config (1 MiB).
      kind = 'gzip/bomb';
      body = BOMB;
    } else {
      kind = 'gzip/garbage';
      body = Buffer.concat([Buffer.from([0x1f, 0x8b, 0x08, 0]), r.bytes(40)]);
    }
    const headers = [`Content-Encoding: ${r.pick(['gzip', 'gzip', 'gzip', 'GZIP', 'deflate', 'gzip, gzip', 'br'])}`];
    if (contentType !== undefined) headers.push(`Content-Type: ${contentType}`);
    return { kind, body, headers };
  }
  return { kind, body, headers: contentType === undefined ? [] : [`Content-Type: ${contentType}`] };
}

const BOMB = gzipSync(Buffer.alloc(8 << 20, 0x30));

function base64url(s: string): string {
  return Buffer.from(s, 'utf8').toString('base64url');
}

/** One path segment holding `value`, in one of the spellings a client might use (or get wrong). */
function spellValue(r: Random, value: string): { name: string; value: string } {
  switch (r.below(8)) {
    case 0:
      return { name: '@base64', value: base64url(value) + r.pick(['', '=', '==']) };
    case 1:
      return { name: '@base64', value: r.pick(['!!', 'a', '=', '', '____', 'A%2F']) };
    case 2:
      return { name: '', value: encodeURIComponent(value) };
    case 3:
      return { name: '', value: r.pick(['%zz', '%', '%2', '%2F', '%00', '%C3%28', '%ff']) + value };
    default:
      // Raw: what Node passes on byte for byte (UTF-8 bytes as latin1 characters).
      return { name: '', value: Buffer.from(value, 'utf8').toString('latin1') };
  }
}

/** A push path, often mangled. */
function pathOf(r: Random): { kind: string; path: string } {
  if (r.chance(0.08)) return { kind: 'path/other', path: r.pick(OTHER_PATHS) };
  const job = spellValue(r, r.pick(JOBS));
  let path = `/metrics/job${job.name}/${job.value}`;
  let kind = job.name === '' ? 'path/plain' : 'path/base64';
  const labels = r.below(4);
  for (let i = 0; i < labels; i++) {
    const spelled = spellValue(r, r.pick(LABEL_VALUES));
    path += `/${r.pick(LABEL_NAMES)}${spelled.name}/${spelled.value}`;
  }
  const mangle = r.below(20);
  if (mangle === 0) {
    kind = 'path/dotted';
    path = path.replace('/job', r.pick(['//job', '/./job', '/x/../job', '/job/.']));
  } else if (mangle === 1) {
    kind = 'path/slash';
    path += r.pick(['/', '//', '/x', '/.', '/..']);
  } else if (mangle === 2) {
    kind = 'path/case';
    path = path.replace('/metrics/job', r.pick(['/METRICS/job', '/Metrics/Job', '/metrics/JOB@base64']));
  } else if (mangle === 3) {
    kind = 'path/query';
    path += r.pick(['?a=b', '?', '#frag', '?%zz', '?x=' + 'q'.repeat(100)]);
  } else if (mangle === 4) {
    kind = 'path/non-utf8';
    path += r.pick(['\xff', '\xc3', '\x80abc', '/a/\xfe\xfe']);
  } else if (mangle === 5) {
    // Past maxUrlBytes (8 KiB), past maxHeaderBytes (16 KiB), and past even a Pushgateway's 1 MiB.
    kind = 'path/long';
    const length = r.pick([9_000, 20_000, 1_100_000]);
    path += `/long/${'v'.repeat(length)}`;
  } else if (mangle === 6) {
    kind = 'path/control';
    path += r.pick(['/a/b\tc', '/a/b\x01', '/a/\x7f']);
  }
  return { kind, path };
}

function chunked(body: Buffer, r: Random): { kind: string; bytes: Buffer } {
  const variant = r.below(5);
  if (variant === 0) return { kind: 'chunked/bad-size', bytes: Buffer.concat([Buffer.from('zz\r\n'), body, Buffer.from('\r\n0\r\n\r\n')]) };
  if (variant === 1) return { kind: 'chunked/unterminated', bytes: Buffer.concat([Buffer.from(`${body.length.toString(16)}\r\n`), body]) };
  if (variant === 2)
    return { kind: 'chunked/short', bytes: Buffer.concat([Buffer.from(`${(body.length + 5).toString(16)}\r\n`), body, Buffer.from('\r\n0\r\n\r\n')]) };
  if (variant === 3)
    return {
      kind: 'chunked/ext',
      bytes: Buffer.concat([Buffer.from(`${body.length.toString(16)};x=y\r\n`), body, Buffer.from('\r\n0\r\nTrailer: t\r\n\r\n')]),
    };
  return { kind: 'chunked', bytes: Buffer.concat([Buffer.from(`${body.length.toString(16)}\r\n`), body, Buffer.from('\r\n0\r\n\r\n')]) };
}

/** A push a Pushgateway takes: a job and labels from the pools, a consistent text or protobuf body. */
function cleanPush(r: Random): { kind: string; bytes: Buffer } {
  const method = r.pick(['PUT', 'POST', 'POST', 'DELETE']);
  let path = `/metrics/job/${encodeURIComponent(r.pick(['fuzz_a', 'fuzz_b', 'fuzz_c']))}`;
  if (r.chance(0.7)) path += `/instance/${r.pick(['i0', 'i1', 'i2'])}`;
  if (r.chance(0.2)) path += `/zone@base64/${base64url(r.pick(['eu/west', 'us']))}`;
  const value = r.below(1000);
  const protobuf = r.chance(0.3);
  // One type per name across every group, so that these pushes stay consistent with each other.
  const body =
    method === 'DELETE'
      ? Buffer.alloc(0)
      : protobuf
        ? encodeDelimitedMetricFamilies([{ name: 'fuzz_clean_p', type: 'GAUGE', metrics: [{ value, labels: { k: r.pick(['v', 'w']) } }] }])
        : Buffer.from(`# TYPE fuzz_clean gauge\nfuzz_clean{k="${r.pick(['v', 'w'])}"} ${value}\n# TYPE fuzz_clean_total counter\nfuzz_clean_total ${value}\n`);
  const headers = [`${method} ${path} HTTP/1.1`, 'Host: 127.0.0.1', `Content-Length: ${body.length}`];
  if (protobuf) headers.push(`Content-Type: ${PROTOBUF_CONTENT_TYPE}`);
  else if (r.chance(0.5)) headers.push('Content-Type: text/plain; version=0.0.4');
  return { kind: `clean/${method}${protobuf ? '/protobuf' : ''}`, bytes: Buffer.concat([Buffer.from(headers.join('\r\n') + '\r\n\r\n'), body]) };
}

/** An HTTP request built from its parts, with its framing sometimes wrong. */
/** The token the fuzzed front door accepts (FUZZ_TOKEN), and every way to get an Authorization header wrong. */
export const FUZZ_TOKEN = 'fuzz-token-7c1e';

function authorizationOf(r: Random): string {
  const base64 = (text: string) => Buffer.from(text, 'latin1').toString('base64');
  return r.pick([
    `Bearer ${FUZZ_TOKEN}`,
    `bearer ${FUZZ_TOKEN}`,
    `Bearer ${FUZZ_TOKEN}x`,
    'Bearer',
    'Bearer ',
    `Bearer  ${FUZZ_TOKEN}`,
    `Basic ${base64('fuzz:wrong')}`,
    `Basic ${base64('no-colon')}`,
    `Basic ${base64(':')}`,
    'Basic !!!not-base64',
    `Basic ${base64('\u00ff\u0000:\u00fe')}`,
    `Digest username="x"`,
    `Bearer ${'t'.repeat(r.pick([100, 5_000]))}`,
    `Basic ${base64(`${'u'.repeat(300)}:${'p'.repeat(300)}`)}`,
    '\u00e9\u00e8',
    '',
  ]);
}

function httpRequest(r: Random): { kind: string; bytes: Buffer } {
  const method = r.chance(0.8) ? r.pick(['PUT', 'POST', 'DELETE', 'PUT', 'POST']) : r.pick(METHODS);
  const { kind: pathKind, path } = pathOf(r);
  const { kind: bodyKind, body, headers } = bodyOf(r);
  const kinds = [pathKind, `body/${bodyKind}`];
  const lines = [`${method} ${path} ${r.chance(0.97) ? 'HTTP/1.1' : r.pick(['HTTP/1.0', 'HTTP/2.0', 'HTTP/1.2', 'http/1.1'])}`];
  if (r.chance(0.97)) lines.push(`Host: ${r.pick(['127.0.0.1', 'localhost:9091', 'x', ''])}`);
  else kinds.push('header/no-host');
  lines.push(...headers);
  const headerRoll = r.below(40);
  if (headerRoll === 0) {
    kinds.push('header/huge');
    lines.push(`X-Fuzz: ${'h'.repeat(r.pick([20_000, 1_100_000]))}`);
  } else if (headerRoll === 1) {
    kinds.push('header/many');
    for (let i = 0; i < 500; i++) lines.push(`X-F${i}: ${i}`);
  } else if (headerRoll === 2) {
    kinds.push('header/odd');
    lines.push(r.pick(['NoColon', 'Bad Name: v', 'X-Nul: a\0b', ' Folded: v', 'X: v\r\n continued', 'Host: second', 'Authorization: Bearer fuzz']));
  } else if (headerRoll === 3) {
    kinds.push('header/expect');
    lines.push('Expect: 100-continue');
  } else if (headerRoll === 4) {
    kinds.push('header/upgrade');
    lines.push('Connection: Upgrade', 'Upgrade: websocket');
  } else if (headerRoll <= 8) {
    kinds.push('header/authorization');
    lines.push(`Authorization: ${authorizationOf(r)}`);
  }
  let payload = body;
  const framing = r.below(20);
  if (framing === 0) {
    const c = chunked(body, r);
    kinds.push(c.kind);
    lines.push('Transfer-Encoding: chunked');
    payload = c.bytes;
  } else if (framing === 1) {
    kinds.push('length/wrong');
    lines.push(`Content-Length: ${r.pick([body.length + 10, Math.max(0, body.length - 3), -1, 'abc', '1, 2', '99999999999999999999'])}`);
  } else if (framing === 2) {
    kinds.push('length/and-chunked');
    lines.push(`Content-Length: ${body.length}`, 'Transfer-Encoding: chunked');
  } else if (framing === 3) {
    kinds.push('length/twice');
    lines.push(`Content-Length: ${body.length}`, `Content-Length: ${body.length + 1}`);
  } else if (body.length > 0 || r.chance(0.5)) {
    lines.push(`Content-Length: ${body.length}`);
  }
  const eol = r.chance(0.03) ? '\n' : '\r\n';
  if (eol === '\n') kinds.push('lf-only');
  return { kind: kinds.join(' '), bytes: Buffer.concat([Buffer.from(lines.join(eol) + eol + eol, 'latin1'), payload]) };
}

const RAW_CASES: readonly (readonly [string, string])[] = [
  ['raw/empty-line', '\r\n\r\n'],
  ['raw/method-only', 'GET\r\n\r\n'],
  ['raw/no-version', 'PUT /metrics/job/a\r\n\r\n'],
  ['raw/version-9', 'GET / HTTP/9.9\r\nHost: x\r\n\r\n'],
  ['raw/bad-protocol', 'GET / FOO/1.1\r\nHost: x\r\n\r\n'],
  ['raw/spaces', 'GET  /metrics  HTTP/1.1\r\nHost: x\r\n\r\n'],
  ['raw/http10', 'PUT /metrics/job/fuzz_a HTTP/1.0\r\nContent-Length: 9\r\n\r\nfuzz_m 1\n'],
  ['raw/http2-preface', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'],
  ['raw/absolute-form', 'PUT http://127.0.0.1/metrics/job/fuzz_a HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\nfuzz_m 1\n'],
  ['raw/connect', 'CONNECT 127.0.0.1:80 HTTP/1.1\r\nHost: 127.0.0.1:80\r\n\r\n'],
  ['raw/nul', 'GET /\0 HTTP/1.1\r\nHost: x\r\n\r\n'],
  ['raw/tls-hello', '\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03'],
  ['raw/only-cr', 'GET / HTTP/1.1\rHost: x\r\r'],
  ['raw/header-space', 'GET / HTTP/1.1\r\nHost : x\r\n\r\n'],
  [
    'raw/pipelined',
    'PUT /metrics/job/fuzz_b HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\nfuzz_m 2\nGET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\nDELETE /metrics/job/fuzz_b HTTP/1.1\r\nHost: x\r\n\r\n',
  ],
  ['raw/pipelined-garbage', 'GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n\x00\x01garbage\r\n\r\n'],
  [
    'raw/smuggle',
    'POST /metrics/job/fuzz_c HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /metrics HTTP/1.1\r\nHost: x\r\n\r\n',
  ],
];

/** A request outside the grammar, or one the client gives up on half way. */
function rawRequest(r: Random): { kind: string; bytes: Buffer; abortAfter?: number } {
  if (r.chance(0.2)) {
    const whole = httpRequest(r);
    return { kind: `early-close ${whole.kind}`, bytes: whole.bytes, abortAfter: r.below(whole.bytes.length) };
  }
  if (r.chance(0.15)) return { kind: 'raw/binary', bytes: r.bytes(1 + r.below(200)) };
  const [kind, text] = r.pick(RAW_CASES);
  return { kind, bytes: Buffer.from(text, 'latin1') };
}

/**
 * `count` requests from `seed`: about a quarter pushes a Pushgateway takes (so that state builds
 * up between the hostile ones), one in ten outside HTTP's grammar, the rest HTTP with mangled parts.
 */
export function generateFuzzRequests(seed: number, count: number): FuzzRequest[] {
  const r = createRandom(seed);
  return Array.from({ length: count }, (_, index) => {
    const roll = r.next();
    return { index, ...(roll < 0.25 ? cleanPush(r) : roll < 0.35 ? rawRequest(r) : httpRequest(r)) };
  });
}

/**
 * Whether a Pushgateway 1.5.1 would hang on this request's route for good: its push and delete
 * handlers (handler/push.go, delete.go) return from an invalid base64 job name without unlocking
 * their mutex, so every later PUT, POST or DELETE on `/metrics/job@base64/…` with that method waits
 * forever (one goroutine and connection each). The front door refuses such a request itself.
 */
export function deadlocksPushgateway(request: FuzzRequest): boolean {
  const text = request.bytes.toString('latin1');
  const lineEnd = text.indexOf('\n');
  if (lineEnd === -1) return false;
  const [method, target] = text.slice(0, lineEnd).replace(/\r$/, '').split(' ');
  if (method === undefined || target === undefined || !['PUT', 'POST', 'DELETE'].includes(method)) return false;
  const parsed = parseGroupingPath(target);
  return !parsed.ok && parsed.kind === 'invalid' && parsed.message.startsWith('invalid base64 encoding in job name');
}

/** What came back on one connection: every status line in order, or why none did. */
export interface FuzzAnswer {
  readonly statuses: readonly number[];
  /**
   * `closed`: the server closed without an answer; `reset`, `timeout`, `aborted` (the client closed
   * first); `skipped`: not sent (see deadlocksPushgateway).
   */
  readonly end: 'closed' | 'reset' | 'timeout' | 'aborted' | 'skipped';
}

/**
 * Sends a request on a new connection and reads until the server closes it (the client half-closes
 * after its bytes, so the server closes once it answered everything).
 */
export function sendFuzzRequest(port: number, request: FuzzRequest, timeoutMs: number): Promise<FuzzAnswer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let end: FuzzAnswer['end'] = 'closed';
    const socket = connect({ port, host: '127.0.0.1' });
    const timer = setTimeout(() => {
      end = 'timeout';
      socket.destroy();
    }, timeoutMs);
    socket.on('connect', () => {
      if (request.abortAfter !== undefined) {
        socket.write(request.bytes.subarray(0, request.abortAfter), () => {
          end = 'aborted';
          socket.destroy();
        });
        return;
      }
      socket.end(request.bytes);
    });
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (end === 'closed') end = err.code === 'ECONNRESET' || err.code === 'EPIPE' ? 'reset' : 'closed';
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ statuses: statusesOf(Buffer.concat(chunks)), end });
    });
  });
}

/**
 * The status of every response on the connection. A pipelined answer's status line follows the
 * previous body directly, so it is looked for anywhere (no generated request puts one in a body).
 */
export function statusesOf(data: Buffer): number[] {
  const text = data.toString('latin1');
  const statuses: number[] = [];
  const pattern = /HTTP\/1\.[01] (\d{3}) /g;
  for (let m = pattern.exec(text); m !== null; m = pattern.exec(text)) statuses.push(Number(m[1]));
  return statuses;
}

/** The class of an answer for the report: `2xx`…`5xx`, or how the connection ended without one. */
export function classOf(answer: FuzzAnswer): string {
  // An interim 100 Continue is not the answer.
  const first = answer.statuses.find((s) => s >= 200);
  return first === undefined ? answer.end : `${Math.floor(first / 100)}xx`;
}
