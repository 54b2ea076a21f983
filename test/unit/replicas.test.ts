import { describe, expect, it } from 'vitest';
import type { ShardConfig } from '../../src/config/schema.js';
import { explainRefusal, explainTlsFailure, replicaUrl, resolveReplicas } from '../../src/core/replicas.js';

const basic = (username: string) => ({ username, password: { file: `/run/${username}` } });

describe('resolveReplicas', () => {
  it.each<[string, Pick<ShardConfig, 'replicas' | 'client'>, object[]]>([
    [
      'strings and no client: plain',
      { replicas: ['http://a:1', 'http://a:2'] },
      [
        { url: 'http://a:1', client: { paths: {} } },
        { url: 'http://a:2', client: { paths: {} } },
      ],
    ],
    [
      "the shard's client applies to every replica",
      { client: { caFile: '/ca', basicAuth: basic('pr') }, replicas: ['https://a:1', { url: 'https://a:2' }] },
      [
        {
          url: 'https://a:1',
          client: { caFile: '/ca', basicAuth: { ...basic('pr'), path: 'shards[3].client.basicAuth' }, paths: { caFile: 'shards[3].client.caFile' } },
        },
        {
          url: 'https://a:2',
          client: { caFile: '/ca', basicAuth: { ...basic('pr'), path: 'shards[3].client.basicAuth' }, paths: { caFile: 'shards[3].client.caFile' } },
        },
      ],
    ],
    [
      "a replica's client replaces the shard's field by field",
      {
        client: { caFile: '/ca', certFile: '/c', keyFile: '/k', serverName: 'pg', basicAuth: basic('pr') },
        replicas: ['https://a:1', { url: 'https://a:2', client: { caFile: '/ca2', basicAuth: basic('other') } }],
      },
      [
        expect.objectContaining({ url: 'https://a:1', client: expect.objectContaining({ caFile: '/ca', serverName: 'pg' }) }),
        {
          url: 'https://a:2',
          client: {
            caFile: '/ca2',
            certFile: '/c',
            keyFile: '/k',
            serverName: 'pg',
            basicAuth: { ...basic('other'), path: 'shards[3].replicas[1].client.basicAuth' },
            paths: { caFile: 'shards[3].replicas[1].client.caFile', certFile: 'shards[3].client.certFile', keyFile: 'shards[3].client.keyFile' },
          },
        },
      ],
    ],
    [
      'a client on one replica only',
      { replicas: ['http://a:1', { url: 'https://a:2', client: { serverName: 'x' } }] },
      [
        { url: 'http://a:1', client: { paths: {} } },
        { url: 'https://a:2', client: { serverName: 'x', paths: {} } },
      ],
    ],
  ])('%s', (_name, shard, expected) => {
    const resolved = resolveReplicas(shard, 3);
    expect(resolved).toEqual(expected.map((e, j) => (typeof e === 'object' && 'url' in e ? { ...e, path: `shards[3].replicas[${j}]` } : e)));
  });

  it('numbers replicas by position and reads either form', () => {
    expect(resolveReplicas({ replicas: ['http://a:1', { url: 'http://a:2' }] }, 0).map((r) => r.path)).toEqual([
      'shards[0].replicas[0]',
      'shards[0].replicas[1]',
    ]);
    expect([replicaUrl('http://a:1'), replicaUrl({ url: 'http://a:2' })]).toEqual(['http://a:1', 'http://a:2']);
  });
});

describe('explainTlsFailure', () => {
  it.each([
    ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'shards[0].client.caFile', /not signed by a trusted CA .*check shards\[0\]\.client\.caFile/],
    ['SELF_SIGNED_CERT_IN_CHAIN', undefined, /not signed by a trusted CA .*give the CA that signs it in client\.caFile/],
    ['ERR_TLS_CERT_ALTNAME_INVALID', undefined, /not valid for this host name .*client\.serverName/],
    ['CERT_HAS_EXPIRED', undefined, /validity period/],
    ['ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED', undefined, /refused pushring's client certificate .*set client\.certFile/],
    ['ERR_SSL_WRONG_VERSION_NUMBER', undefined, /does not speak TLS/],
    ['ERR_SSL_SOMETHING_NEW', undefined, /^TLS handshake failed \(ERR_SSL_SOMETHING_NEW\)$/],
  ])('%s', (code, caPath, expected) => {
    expect(explainTlsFailure(code, caPath, undefined)).toMatch(expected);
  });

  it.each(['ECONNREFUSED', 'UND_ERR_CONNECT_TIMEOUT', 'ECONNRESET'])('%s is not a TLS failure', (code) => {
    expect(explainTlsFailure(code, undefined, undefined)).toBeUndefined();
  });
});

describe('explainRefusal', () => {
  it.each([
    [401, 'shards[1].client.basicAuth', "the replica refused pushring's credentials (401): check shards[1].client.basicAuth"],
    [403, 'shards[1].replicas[0].client.basicAuth', "the replica refused pushring's credentials (403): check shards[1].replicas[0].client.basicAuth"],
    [401, undefined, 'the replica asks for credentials (401): set shards[1].client.basicAuth, or check the client certificate it is given (client.certFile)'],
  ])('%s with %s', (status, path, expected) => {
    expect(explainRefusal(status, path, 1)).toBe(expected);
  });
});
