/**
 * HTTPS on the front door (config `tls`): the key pair and client CAs read from files and read
 * again when they change, so that a rotated certificate is served to new connections without a
 * restart; and the verified client certificate a request came with, for `auth`.
 */
import { X509Certificate, constants as cryptoConstants, createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { ServerOptions } from 'node:https';
import type { Socket } from 'node:net';
import { TLSSocket, createSecureContext, type SecureContextOptions, type Server as TlsServer } from 'node:tls';
import type { FastifyInstance } from 'fastify';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { ServerConfig, TlsConfig } from '../config/schema.js';

/** A client certificate the front door verified against `tls.clientCaFile`. */
export interface ClientCertificate {
  /** The subject's attributes (`CN`, `O`, `OU`, …), each with its values (an attribute may repeat). */
  readonly subject: Readonly<Record<string, readonly string[]>>;
}

/** The verified client certificate of a connection; undefined over plain HTTP, without one, or when it did not verify. */
export function clientCertificateOf(socket: Socket): ClientCertificate | undefined {
  if (!(socket instanceof TLSSocket) || !socket.authorized) return undefined;
  const cert = socket.getPeerCertificate();
  // Without a client certificate Node answers an empty object, not null.
  if (cert === null || typeof cert !== 'object' || cert.subject === undefined || Object.keys(cert).length === 0) return undefined;
  // Attribute names come from the certificate: no prototype to write through.
  const subject = Object.create(null) as Record<string, readonly string[]>;
  for (const [key, value] of Object.entries(cert.subject as unknown as Record<string, string | string[]>)) {
    subject[key] = Array.isArray(value) ? value : [value];
  }
  return { subject };
}

/** The key pair (and client CAs) read from the files of `tls` and checked to work together. */
export interface TlsFiles {
  readonly key: Buffer;
  readonly cert: Buffer;
  readonly ca?: Buffer;
  /** Of the three files' bytes: a change in any one of them is a new version. */
  readonly hash: string;
  /** The served certificate's notAfter, in seconds since the epoch. */
  readonly notAfter: number;
  readonly serialNumber: string;
}

/** A TLS file that cannot be served; the message names the file and what is wrong, never its content. */
export class TlsFilesError extends Error {
  readonly code = 'PUSHRING_TLS_FILES_INVALID';
  override readonly name = 'TlsFilesError';
}

type FileKey = 'certFile' | 'keyFile' | 'clientCaFile';

/** Reads and checks the files of `tls` at start (buildApp is synchronous); throws a TlsFilesError. */
export function readTlsFiles(tls: TlsConfig | undefined): TlsFiles | undefined {
  if (tls === undefined) return undefined;
  const read = (key: FileKey, path: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw unreadable(key, path, err as NodeJS.ErrnoException);
    }
  };
  return checkTlsFiles(tls, {
    cert: read('certFile', tls.certFile),
    key: read('keyFile', tls.keyFile),
    ...(tls.clientCaFile === undefined ? {} : { ca: read('clientCaFile', tls.clientCaFile) }),
  });
}

type RawFiles = { readonly cert: Buffer; readonly key: Buffer; readonly ca?: Buffer };

/** Reads the files of `tls` again (rotation), unchecked; rejects with a TlsFilesError. */
async function reReadTlsFiles(tls: TlsConfig): Promise<RawFiles> {
  const read = (key: FileKey, path: string): Promise<Buffer> =>
    readFile(path).catch((err: NodeJS.ErrnoException) => {
      throw unreadable(key, path, err);
    });
  const [cert, key, ca] = await Promise.all([
    read('certFile', tls.certFile),
    read('keyFile', tls.keyFile),
    tls.clientCaFile === undefined ? undefined : read('clientCaFile', tls.clientCaFile),
  ]);
  return { cert, key, ...(ca === undefined ? {} : { ca }) };
}

function hashOf(files: RawFiles): string {
  const hash = createHash('sha256');
  for (const part of [files.cert, files.key, files.ca ?? Buffer.alloc(0)]) hash.update(String(part.length)).update(':').update(part);
  return hash.digest('hex');
}

function unreadable(key: FileKey, path: string, err: NodeJS.ErrnoException): TlsFilesError {
  const why = err.code === 'ENOENT' ? 'no such file' : err.code === 'EACCES' ? 'permission denied' : (err.code ?? err.message);
  return new TlsFilesError(`cannot read tls.${key} ${path} (${why}): give the path of a PEM file pushring can read`);
}

const CERTIFICATE_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/** Checks that the files make a usable pair: what createSecureContext says, in words that name the file. */
function checkTlsFiles(tls: TlsConfig, files: RawFiles): TlsFiles {
  let served: X509Certificate;
  try {
    // The first certificate of the file is the server's own; the rest is its chain.
    served = new X509Certificate(files.cert);
  } catch {
    throw new TlsFilesError(`tls.certFile ${tls.certFile} holds no PEM certificate: give the server's certificate (with its chain) in PEM`);
  }
  if (files.ca !== undefined) {
    // createSecureContext skips what is not a certificate without a word: a CA file of nothing
    // would make every client certificate unverifiable.
    const blocks = files.ca.toString('latin1').match(CERTIFICATE_BLOCK) ?? [];
    const valid = blocks.filter((block) => {
      try {
        new X509Certificate(block);
        return true;
      } catch {
        return false;
      }
    });
    if (blocks.length === 0 || valid.length !== blocks.length) {
      throw new TlsFilesError(
        `tls.clientCaFile ${tls.clientCaFile ?? ''} holds no valid PEM certificates: give the CA certificates that sign client certificates in PEM`,
      );
    }
  }
  try {
    createSecureContext(secureContextOptions(tls, files));
  } catch (err) {
    const code = (err as { code?: string }).code ?? '';
    if (code === 'ERR_OSSL_X509_KEY_VALUES_MISMATCH') {
      throw new TlsFilesError(
        `tls.keyFile ${tls.keyFile} is not the private key of the certificate in tls.certFile ${tls.certFile}: give the key the certificate was issued for`,
      );
    }
    throw new TlsFilesError(`tls.keyFile ${tls.keyFile} holds no usable PEM private key (${code || 'unreadable'}): give an unencrypted PEM private key`);
  }
  return { ...files, hash: hashOf(files), notAfter: Date.parse(served.validTo) / 1000, serialNumber: served.serialNumber };
}

function secureContextOptions(tls: TlsConfig, files: RawFiles): SecureContextOptions {
  return {
    key: files.key,
    cert: files.cert,
    ...(files.ca === undefined ? {} : { ca: files.ca }),
    minVersion: tls.minVersion,
    // Node's default cipher list (tls.DEFAULT_CIPHERS: AEAD suites first, no RC4/DES/MD5/NULL),
    // in the server's order rather than the client's.
    honorCipherOrder: true,
    // Node alone lets a TLS 1.2 client renegotiate 3 times per 10 minutes before it cuts the
    // connection (tls.CLIENT_RENEG_LIMIT); nothing needs it, so it is refused outright (TLS 1.3 has none).
    secureOptions: cryptoConstants.SSL_OP_NO_RENEGOTIATION,
  };
}

/**
 * What Fastify is built with for `tls` (nothing without it). With `tls.clientCaFile` the client is
 * asked for a certificate but not refused without one or with one that does not verify: `auth`
 * decides what such a request may do, and clientCertificateOf treats an unverified one as none.
 */
export function httpsOptions(tls: TlsConfig | undefined, files: TlsFiles | undefined, server: ServerConfig): { https?: ServerOptions } {
  if (tls === undefined || files === undefined) return {};
  return {
    https: {
      ...secureContextOptions(tls, files),
      requestCert: files.ca !== undefined,
      rejectUnauthorized: false,
      // Fastify hands its `http` options to plain HTTP servers only.
      maxHeaderSize: server.maxHeaderBytes,
      // The handshake comes before the request line: a client gets no longer for it than for
      // its headers (Node's own default is 120 s, a long hold for a slow or idle client).
      handshakeTimeout: server.headersTimeoutMs,
    },
  };
}

const EXPIRY = 'pushring_tls_certificate_expiry_seconds';
const RELOADS = 'pushring_tls_reloads_total';

/**
 * Reads the files again every `tls.reloadSeconds` and serves a changed, valid pair to new
 * connections (existing ones carry on with theirs); an invalid one is logged and the last good
 * pair keeps serving. Compares content, not mtimes: a Kubernetes Secret volume swaps a symlink.
 */
export function watchTls(app: FastifyInstance, tls: TlsConfig | undefined, served: TlsFiles | undefined, registry: Registry): void {
  if (tls === undefined || served === undefined) return;
  // Another app built on the same registry (tests, a rebuilt app) takes the metrics over.
  registry.removeSingleMetric(EXPIRY);
  registry.removeSingleMetric(RELOADS);
  const expiry = new Gauge({
    name: EXPIRY,
    help: 'When the certificate the front door serves expires (its notAfter), in seconds since the epoch.',
    registers: [registry],
  });
  const reloads = new Counter({
    name: RELOADS,
    help: 'Changes of the TLS files seen: applied (served to new connections) or invalid (the last good pair kept serving).',
    labelNames: ['result'],
    registers: [registry],
  });
  reloads.inc({ result: 'applied' }, 0);
  reloads.inc({ result: 'invalid' }, 0);
  expiry.set(served.notAfter);

  let current = served;
  // What was last found wrong (the files' hash, or why they could not be read): said once, not every interval.
  let lastRefused: string | undefined;
  const refuse = (what: string, message: string): void => {
    if (what === lastRefused) return;
    lastRefused = what;
    reloads.inc({ result: 'invalid' });
    app.log.error({ err: message }, 'the TLS files changed but cannot be served; the last good certificate keeps serving');
  };
  const check = async (): Promise<void> => {
    let files: RawFiles;
    try {
      files = await reReadTlsFiles(tls);
    } catch (err) {
      refuse((err as Error).message, (err as Error).message);
      return;
    }
    const hash = hashOf(files);
    if (hash === current.hash) {
      lastRefused = undefined;
      return;
    }
    if (hash === lastRefused) return;
    let next: TlsFiles;
    try {
      next = checkTlsFiles(tls, files);
    } catch (err) {
      refuse(hash, (err as Error).message);
      return;
    }
    try {
      (app.server as unknown as TlsServer).setSecureContext({
        ...secureContextOptions(tls, next),
        // Fresh session-ticket keys: a session resumed under the old context would carry the
        // client-certificate verdict of the old CAs.
        ticketKeys: randomBytes(48),
      });
    } catch (err) {
      // Checked just before with the same options; a throw here must not end the process.
      refuse(hash, `the TLS files could not be served: ${(err as { code?: string }).code ?? (err as Error).message}`);
      return;
    }
    lastRefused = undefined;
    current = next;
    expiry.set(next.notAfter);
    reloads.inc({ result: 'applied' });
    app.log.info(
      { certFile: tls.certFile, serialNumber: next.serialNumber, notAfter: new Date(next.notAfter * 1000).toISOString() },
      'serving a new TLS certificate to new connections',
    );
  };
  let checking: Promise<void> | undefined;
  const timer = setInterval(() => void (checking ??= check().finally(() => (checking = undefined))), tls.reloadSeconds * 1000);
  timer.unref();
  app.addHook('onClose', async () => {
    clearInterval(timer);
    await checking;
  });
}
