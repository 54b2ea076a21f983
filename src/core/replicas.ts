/**
 * The replicas of a shard as everything that talks to them sees them: a URL and the client
 * settings in force for it (the shard's `client`, replaced field by field by the replica's own),
 * with where in the configuration each setting came from, for messages. Pure.
 */
import type { BackendClientConfig, ReplicaConfig, SecretSource, ShardConfig } from '../config/schema.js';

export interface ResolvedBasicAuth {
  readonly username: string;
  readonly password: SecretSource;
  /** Where in the configuration it is set: `shards[0].client.basicAuth`. */
  readonly path: string;
}

/** The client settings of one replica; a field absent here is absent at both levels. */
export interface ResolvedClient {
  readonly caFile?: string;
  readonly certFile?: string;
  readonly keyFile?: string;
  readonly serverName?: string;
  readonly basicAuth?: ResolvedBasicAuth;
  /** Where in the configuration each file field is set, `shards[0].replicas[1].client.caFile`. */
  readonly paths: Readonly<Partial<Record<'caFile' | 'certFile' | 'keyFile', string>>>;
}

export interface ResolvedReplica {
  readonly url: string;
  /** `shards[i].replicas[j]`. */
  readonly path: string;
  readonly client: ResolvedClient;
}

const FILE_FIELDS = ['caFile', 'certFile', 'keyFile'] as const;

/** A replica's URL, whichever form it is given in. */
export function replicaUrl(replica: ReplicaConfig): string {
  return typeof replica === 'string' ? replica : replica.url;
}

/** The replicas of `shard` (the `shardIndex`th of the file), in configuration order. */
export function resolveReplicas(shard: Pick<ShardConfig, 'replicas' | 'client'>, shardIndex: number): ResolvedReplica[] {
  return shard.replicas.map((replica, j) => {
    const path = `shards[${shardIndex}].replicas[${j}]`;
    const own = typeof replica === 'string' ? undefined : replica.client;
    return { url: replicaUrl(replica), path, client: mergeClient(shard.client, `shards[${shardIndex}].client`, own, `${path}.client`) };
  });
}

function mergeClient(shard: BackendClientConfig | undefined, shardPath: string, own: BackendClientConfig | undefined, ownPath: string): ResolvedClient {
  const client: {
    caFile?: string;
    certFile?: string;
    keyFile?: string;
    serverName?: string;
    basicAuth?: ResolvedBasicAuth;
    paths: Partial<Record<'caFile' | 'certFile' | 'keyFile', string>>;
  } = { paths: {} };
  for (const field of FILE_FIELDS) {
    const [value, at] = own?.[field] !== undefined ? [own[field], ownPath] : [shard?.[field], shardPath];
    if (value === undefined) continue;
    client[field] = value;
    client.paths[field] = `${at}.${field}`;
  }
  const serverName = own?.serverName ?? shard?.serverName;
  if (serverName !== undefined) client.serverName = serverName;
  const [basic, at] = own?.basicAuth !== undefined ? [own.basicAuth, ownPath] : [shard?.basicAuth, shardPath];
  if (basic !== undefined) client.basicAuth = { username: basic.username, password: basic.password, path: `${at}.basicAuth` };
  return client;
}

/**
 * The TLS errors that only a handshake raises (so nothing was sent), each with what it means. One
 * table: the write path counts these as "unreachable" (client.ts), and explainTlsFailure says what
 * to fix.
 */
export const TLS_HANDSHAKE_FAILURES: Readonly<Record<string, 'untrusted' | 'host' | 'validity' | 'client-certificate' | 'not-tls'>> = {
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'untrusted',
  UNABLE_TO_GET_ISSUER_CERT: 'untrusted',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'untrusted',
  SELF_SIGNED_CERT_IN_CHAIN: 'untrusted',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'untrusted',
  CERT_SIGNATURE_FAILURE: 'untrusted',
  ERR_TLS_CERT_ALTNAME_INVALID: 'host',
  CERT_HAS_EXPIRED: 'validity',
  CERT_NOT_YET_VALID: 'validity',
  ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED: 'client-certificate',
  ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE: 'client-certificate',
  ERR_SSL_TLSV1_ALERT_UNKNOWN_CA: 'client-certificate',
  ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE: 'client-certificate',
  ERR_SSL_TLSV1_ALERT_ACCESS_DENIED: 'client-certificate',
  ERR_SSL_WRONG_VERSION_NUMBER: 'not-tls',
  ERR_SSL_PACKET_LENGTH_TOO_LONG: 'not-tls',
};

/**
 * Why a replica's TLS handshake failed, in words an operator acts on, from the error code Node
 * gives (OpenSSL's verify codes, Node's own, and the alerts a server sends). Undefined: not a
 * TLS failure.
 */
export function explainTlsFailure(code: string, caPath: string | undefined, certPath: string | undefined): string | undefined {
  switch (TLS_HANDSHAKE_FAILURES[code]) {
    case 'untrusted':
      return `TLS: the replica's certificate is not signed by a trusted CA (${code}): ${caPath === undefined ? 'give the CA that signs it in client.caFile' : `check ${caPath}`}`;
    case 'host':
      return `TLS: the replica's certificate is not valid for this host name (${code}): fix the URL's host or set client.serverName`;
    case 'validity':
      return `TLS: the replica's certificate is outside its validity period (${code}): renew it`;
    case 'client-certificate':
      return `TLS: the replica refused pushring's client certificate (${code}): ${certPath === undefined ? 'it asks for one: set client.certFile and client.keyFile' : `check ${certPath} against its client_ca_file`}`;
    case 'not-tls':
      return `TLS: the replica does not speak TLS (${code}): use an http:// URL, or start it with a web config that enables TLS`;
    default:
      return code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_') ? `TLS handshake failed (${code})` : undefined;
  }
}

/** What a replica's 401 or 403 means, for the health reason; `basicAuthPath` where credentials are set, if anywhere. */
export function explainRefusal(status: number, basicAuthPath: string | undefined, shardIndex: number): string {
  return basicAuthPath === undefined
    ? `the replica asks for credentials (${status}): set shards[${shardIndex}].client.basicAuth, or check the client certificate it is given (client.certFile)`
    : `the replica refused pushring's credentials (${status}): check ${basicAuthPath}`;
}
