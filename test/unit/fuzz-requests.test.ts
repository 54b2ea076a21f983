import { describe, expect, it } from 'vitest';
import { classOf, deadlocksPushgateway, generateFuzzRequests, statusesOf, type FuzzRequest } from '../helpers/fuzz-requests.js';

const request = (text: string): FuzzRequest => ({ index: 0, kind: 'test', bytes: Buffer.from(text, 'latin1') });

describe('the fuzz generator', () => {
  it('gives the same bytes for the same seed, and others for another', () => {
    const digest = (seed: number): string =>
      generateFuzzRequests(seed, 300)
        .map((r) => `${r.kind}|${r.abortAfter ?? ''}|${r.bytes.toString('base64')}`)
        .join('\n');
    expect(digest(13)).toBe(digest(13));
    expect(digest(14)).not.toBe(digest(13));
  });

  it('mixes pushes a Pushgateway takes, mangled HTTP and raw bytes', () => {
    const kinds = generateFuzzRequests(13, 2_000).map((r) => r.kind.split(' ')[0]!.split('/')[0]!);
    for (const kind of ['clean', 'path', 'raw', 'early-close']) expect(kinds, kind).toContain(kind);
  });
});

describe('statusesOf', () => {
  it.each([
    ['', []],
    ['HTTP/1.1 200 OK\r\n\r\n', [200]],
    ['HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 400 Bad Request\r\n\r\nbody', [100, 400]],
    ['HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nOK\nHTTP/1.1 202 Accepted\r\n\r\n', [200, 202]],
    ['garbage', []],
  ])('%j -> %j', (text, statuses) => {
    expect(statusesOf(Buffer.from(text, 'latin1'))).toEqual(statuses);
  });

  it('classes an answer by its final status, or by how the connection ended', () => {
    expect(classOf({ statuses: [100, 400], end: 'closed' })).toBe('4xx');
    expect(classOf({ statuses: [], end: 'reset' })).toBe('reset');
  });
});

describe('deadlocksPushgateway', () => {
  it.each([
    ['PUT /metrics/job@base64/!! HTTP/1.1\r\n\r\n', true],
    ['DELETE /metrics/job@base64/a HTTP/1.1\r\n\r\n', true],
    ['POST /metrics/job@base64/A%2F HTTP/1.1\n\n', true],
    // Valid base64 (or empty: the error comes after the unlock), another method, another route.
    ['PUT /metrics/job@base64/YQ HTTP/1.1\r\n\r\n', false],
    ['PUT /metrics/job@base64/= HTTP/1.1\r\n\r\n', false],
    ['GET /metrics/job@base64/!! HTTP/1.1\r\n\r\n', false],
    ['PUT /metrics/job/a/l@base64/!! HTTP/1.1\r\n\r\n', false],
    ['PUT /metrics/job@base64/!!', false],
  ])('%j -> %s', (text, expected) => {
    expect(deadlocksPushgateway(request(text))).toBe(expected);
  });
});
