/**
 * HTTPS on the front door (config `tls`): the key pair and client CAs read from files and read
 * again when they change, so that a rotated certificate is served to new connections without a
 * restart; and the verified client certificate a request came with, for `auth`.
 */
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import type { FastifyInstance } from 'fastify';
import type { TlsConfig } from '../config/schema.js';

/** A client certificate the front door verified against `tls.clientCaFile`. */
export interface ClientCertificate {
  /** The subject's attributes (`CN`, `O`, `OU`, …), each with its values (an attribute may repeat). */
  readonly subject: Readonly<Record<string, readonly string[]>>;
}

/** The verified client certificate of a connection; undefined over plain HTTP, without one, or when it did not verify. */
export function clientCertificateOf(socket: Socket): ClientCertificate | undefined {
  if (!(socket instanceof TLSSocket) || !socket.authorized) return undefined;
  const cert = socket.getPeerCertificate();
  if (cert === null || typeof cert !== 'object' || cert.subject === undefined) return undefined;
  const subject: Record<string, readonly string[]> = {};
  for (const [key, value] of Object.entries(cert.subject as unknown as Record<string, string | string[]>)) {
    subject[key] = Array.isArray(value) ? value : [value];
  }
  return { subject };
}

/** What Fastify is built with for `tls` (nothing without it). TODO(issue 13, TLS): the key pair, client CAs, minVersion. */
export function httpsOptions(tls: TlsConfig | undefined): Record<string, never> {
  void tls;
  return {};
}

/** Reads the files again when they change. TODO(issue 13, TLS). */
export function watchTls(app: FastifyInstance, tls: TlsConfig | undefined): void {
  void app;
  void tls;
}
