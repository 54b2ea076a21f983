/**
 * What a slow or hostile client can cost the front door (config `server`): connections, header
 * and URL sizes, and time-outs. TODO(issue 13, hostile input).
 */
import type { FastifyInstance } from 'fastify';
import type { ServerConfig } from '../config/schema.js';

/** Options Fastify is built with. */
export function serverOptions(server: ServerConfig): Record<string, never> {
  void server;
  return {};
}

/** Limits applied to the Node server once built (connections, header time-out). */
export function limitServer(app: FastifyInstance, server: ServerConfig): void {
  void app;
  void server;
}
