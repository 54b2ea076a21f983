/**
 * Credentials scoped to jobs, as one `onRequest` hook: it runs before the body is read, so an
 * unauthenticated client cannot make the front door read a 16 MiB body. Without credentials
 * configured nothing is registered and the front door is open, as a Pushgateway is.
 *
 * The credential a request passed with is kept for later steps: `credentialOf(request)` (a
 * WeakMap, so nothing outlives the request; no Fastify decorator to type across the app).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { createCredentialTable, sourcesOf, type CredentialTable } from '../auth/credentials.js';
import { createFailureLimiter } from '../auth/failures.js';
import { createSecretStore, type SecretStore } from '../auth/secrets.js';
import type { AuthConfig } from '../config/schema.js';
import { ANONYMOUS, UNKNOWN, classifyRequest, compileScope, decide, describeAction, type Action } from '../core/auth.js';
import { sendError } from './errors.js';
import type { AuthRefusal } from './self-metrics.js';
import { clientCertificateOf } from './tls.js';

export interface AuthObserver {
  authRefused(credential: string, reason: AuthRefusal): void;
  watchAuth(state: { throttledAddresses(): number; unreadableSecrets(): number }): void;
  /** Refusals of a push or delete are answers to it, counted with the others. */
  countPush(method: string, status: number): void;
}

const credentials = new WeakMap<FastifyRequest, string>();

/** The credential name a request passed with (`anonymous` without one); undefined when auth is off or the request was refused. */
export function credentialOf(request: FastifyRequest): string | undefined {
  return credentials.get(request);
}

export function registerAuth(app: FastifyInstance, auth: AuthConfig, observer: AuthObserver, env?: NodeJS.ProcessEnv): void {
  if (auth.credentials.length === 0) return;
  const policy = {
    enabled: true,
    anonymous: compileScope({ push: auth.anonymous.push, delete: auth.anonymous.delete, read: auth.anonymous.read }),
  };
  const failures = createFailureLimiter(auth.failures);
  const challenge = `Bearer realm="${auth.realm}", Basic realm="${auth.realm}"`;
  // Until the secrets are read (onReady, before listening) every credential matches nothing.
  let table: CredentialTable = createCredentialTable(auth, { get: () => undefined, failed: () => true });
  let store: SecretStore | undefined;
  observer.watchAuth({ throttledAddresses: () => failures.throttledAddresses(), unreadableSecrets: () => table.unreadableSecrets() });

  app.addHook('onReady', async () => {
    store = await createSecretStore(sourcesOf(auth), {
      reloadMs: auth.secretsReloadSeconds * 1000,
      ...(env === undefined ? {} : { env }),
      onError: (where, message) => app.log.warn({ secret: where, err: message }, 'a secret cannot be read: its credential matches nothing until it can'),
      onChange: (where) => app.log.info({ secret: where }, 'a secret changed: the new value is in force'),
      onRefreshed: () => table.rebuild(),
    });
    table = createCredentialTable(auth, store, (message) => app.log.warn(message));
  });
  app.addHook('onClose', async () => {
    store?.close();
  });

  const refuse = async (request: FastifyRequest, reply: FastifyReply, action: Action, send: (reply: FastifyReply) => Promise<void>): Promise<FastifyReply> => {
    await send(reply);
    if (action.kind === 'push' || action.kind === 'delete') observer.countPush(request.method, reply.statusCode);
    return reply;
  };

  app.addHook('onRequest', async (request, reply) => {
    const action = classifyRequest(request.method, request.url);
    if (action.kind === 'open') return;
    const authorization = request.headers.authorization;
    const certificate = clientCertificateOf(request.raw.socket);
    // The socket's address: X-Forwarded-For is not trusted (a client could name any address).
    const address = request.ip;
    const waitS = failures.retryAfterS(address);
    const throttle = (credential: string): Promise<FastifyReply> => {
      observer.authRefused(credential, 'throttled');
      return refuse(request, reply, action, (r) =>
        sendError(
          r,
          'PUSHRING_AUTH_THROTTLED',
          { failures: auth.failures.perAddress, windowSeconds: auth.failures.windowSeconds, retryAfterS: waitS },
          { 'retry-after': String(waitS) },
        ),
      );
    };
    // Checked before the secret is: a throttled address learns nothing about what it presents.
    if (waitS > 0 && (authorization !== undefined || certificate !== undefined)) return throttle(UNKNOWN);

    const identity = table.identify({ authorization, certificate });
    const decision = decide(policy, identity, action);
    if (decision.kind === 'allow') {
      credentials.set(request, decision.credential);
      return;
    }
    const what = describeAction(action);
    if (decision.kind === 'unauthenticated') {
      if (waitS > 0) return throttle(ANONYMOUS);
      if (identity.kind === 'invalid') {
        failures.fail(address);
        if (failures.retryAfterS(address) > 0) {
          app.log.warn(
            { address, failures: auth.failures.perAddress, windowSeconds: auth.failures.windowSeconds },
            'too many failed authentications from this address: its requests get 429 until the window ends',
          );
        }
      }
      observer.authRefused(decision.credential, 'unauthenticated');
      request.log.info({ credential: decision.credential, address, action: what, problem: decision.problem }, 'refused: not authenticated');
      return refuse(request, reply, action, (r) => sendError(r, 'PUSHRING_UNAUTHENTICATED', { problem: decision.problem }, { 'www-authenticate': challenge }));
    }
    observer.authRefused(decision.credential, 'forbidden');
    request.log.info({ credential: decision.credential, address, action: what }, 'refused: out of the credential scope');
    return refuse(request, reply, action, (r) => sendError(r, 'PUSHRING_FORBIDDEN', { credential: decision.credential, action: decision.action }));
  });
}
