import { describe, expect, it } from 'vitest';
import { forwardedHeaders } from '../../src/write/headers.js';

describe('forwardedHeaders', () => {
  it('drops hop-by-hop headers and those named in Connection, keeps the rest unchanged', () => {
    const raw = [
      'Host',
      'pushring:9191',
      'Content-Type',
      'text/plain; version=0.0.4',
      'Content-Encoding',
      'gzip',
      'Content-Length',
      '42',
      'Connection',
      'keep-alive, X-Hop',
      'Keep-Alive',
      'timeout=5',
      'Transfer-Encoding',
      'chunked',
      'TE',
      'trailers',
      'Upgrade',
      'h2c',
      'Proxy-Authorization',
      'Basic eA==',
      'X-Hop',
      'per-connection',
      'Authorization',
      'Bearer t',
      'User-Agent',
      'curl/8',
    ];
    expect(forwardedHeaders(raw)).toEqual(['content-type', 'text/plain; version=0.0.4', 'content-encoding', 'gzip', 'user-agent', 'curl/8']);
  });

  it.each(['Authorization', 'authorization', 'AUTHORIZATION'])("never forwards the client's credentials (%s): they are for the front door", (name) => {
    expect(forwardedHeaders([name, 'Bearer secret-token', 'X-Kept', 'yes'])).toEqual(['x-kept', 'yes']);
  });
});
