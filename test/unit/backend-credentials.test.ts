/**
 * What a replica's client sends and how it reads a refusal, against a loopback HTTP server that
 * records the headers it got (a stand-in for a Pushgateway's auth layer): a client's
 * `Authorization` never goes on, a write waits for the password's first read, a 401 or 403 meant
 * for pushring is a replica failure, and only handshake-time TLS errors mean "nothing was sent".
 */
import { describe, expect, it } from 'vitest';
import { classifyError, HANDSHAKE_TLS_ERRORS } from '../../src/backends/client.js';
import { explainTlsFailure } from '../../src/core/replicas.js';

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
