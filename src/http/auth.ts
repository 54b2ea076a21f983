/**
 * Credentials scoped to jobs, as one `onRequest` hook: it runs before the body is read, so an
 * unauthenticated client cannot make the front door read a 16 MiB body. Without credentials in
 * force every request passes, as a Pushgateway takes it.
 *
 * The credential list follows configuration reloads when the caller hands a getter of the
 * `auth` section in force (the server does) and calls switchCredentials when it changes: a new
 * list is put in force once its secrets are read; until then the previous one keeps judging.
 *
 * The credential a request passed with is kept for later steps: `credentialOf(request)` (a
 * WeakMap, so nothing outlives the request; no Fastify decorator to type across the app).
 */
import type { Socket } from 'node:net';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { createCredentialTable, sourcesOf, type CredentialTable } from '../auth/credentials.js';
import { createFailureLimiter, type FailureLimiter } from '../auth/failures.js';
import { createSecretStore, type SecretStore } from '../auth/secrets.js';
import type { AuthConfig } from '../config/schema.js';
import { groupingPathOf } from './request-path.js';
import { ANONYMOUS, UNKNOWN, classifyRequest, compileScope, decide, crossSiteSign, describeAction, type Action, type Scope } from '../core/auth.js';
import { sendError } from './errors.js';
import type { AuthRefusal } from './self-metrics.js';
import { clientCertificateOf, type ClientCertificate } from './tls.js';

export interface AuthObserver {
  authRefused(credential: string, reason: AuthRefusal): void;
  watchAuth(state: { throttledAddresses(): number; unreadableSecrets(): number }): void;
  /** Refusals of a push or delete are answers to it, counted with the others. */
  countPush(method: string, status: number): void;
}

const credentials = new WeakMap<FastifyRequest, string>();

/** The credential name a request passed with (`anonymous` without one); undefined when no credentials are in force or the request was refused. */
const single = (value: string | string[] | undefined): string | undefined => (Array.isArray(value) ? value[0] : value);

export function credentialOf(request: FastifyRequest): string | undefined {
  return credentials.get(request);
}

/** Everything one credential list judges with. */
interface InForce {
  readonly auth: AuthConfig;
  readonly policy: { readonly enabled: true; readonly anonymous: Scope };
  readonly challenge: string;
  readonly failures: FailureLimiter;
  readonly table: CredentialTable;
  readonly store: SecretStore;
  /** Whether any credential is a certificate: without one, a client certificate is not even read. */
  readonly certificates: boolean;
}

// A connection's certificate is verified once, at the handshake: read it once per socket, not per request.
const certificates = new WeakMap<Socket, ClientCertificate | undefined>();
function certificateOf(socket: Socket): ClientCertificate | undefined {
  if (certificates.has(socket)) return certificates.get(socket);
  const certificate = clientCertificateOf(socket);
  certificates.set(socket, certificate);
  return certificate;
}

const switches = new WeakMap<FastifyInstance, (auth: AuthConfig) => Promise<void>>();

/**
 * Puts `auth` in force in `app`'s hook now (a reload calls it when it sees the new file, not at
 * a request): the previous list judges until the new one's secrets are read, then every request
 * is judged by the new one. Rejects when the new list cannot be built; the previous one stays.
 */
export function switchCredentials(app: FastifyInstance, auth: AuthConfig): Promise<void> {
  const put = switches.get(app);
  if (put === undefined) return Promise.reject(new Error('this app was built without following credential reloads (no auth getter)'));
  return put(auth);
}

/**
 * Registers the hook. With `current` (the `auth` section in force) the list follows reloads
 * through switchCredentials; without it the list is `initial` for the app's life and nothing is
 * registered when it is empty.
 */
export function registerAuth(app: FastifyInstance, initial: AuthConfig, observer: AuthObserver, current?: () => AuthConfig): void {
  if (current === undefined && initial.credentials.length === 0) return;
  let active: InForce | undefined;
  let activeText: string | undefined;
  let switching: Promise<void> = Promise.resolve();
  observer.watchAuth({ throttledAddresses: () => active?.failures.throttledAddresses() ?? 0, unreadableSecrets: () => active?.table.unreadableSecrets() ?? 0 });

  const build = async (auth: AuthConfig, before: InForce | undefined): Promise<InForce | undefined> => {
    if (auth.credentials.length === 0) return undefined;
    // The store reads the secrets once before the table exists, then tells the table of every read.
    const built: { table?: CredentialTable } = {};
    const store = await createSecretStore(sourcesOf(auth), {
      reloadMs: auth.secretsReloadSeconds * 1000,
      onError: (where, message) => app.log.warn({ secret: where, err: message }, 'a secret cannot be read: its credential matches nothing until it can'),
      onChange: (where) => app.log.info({ secret: where }, 'a secret changed: the new value is in force'),
      onRefreshed: () => built.table?.rebuild(),
    });
    const table = (built.table = createCredentialTable(auth, store, (message) => app.log.warn(message)));
    // A reload that keeps the failure limit keeps who is throttled.
    const failures =
      before !== undefined && JSON.stringify(before.auth.failures) === JSON.stringify(auth.failures) ? before.failures : createFailureLimiter(auth.failures);
    return {
      auth,
      policy: { enabled: true, anonymous: compileScope({ push: auth.anonymous.push, delete: auth.anonymous.delete, read: auth.anonymous.read }) },
      challenge: `Bearer realm="${auth.realm}", Basic realm="${auth.realm}"`,
      failures,
      table,
      store,
      certificates: auth.credentials.some((c) => c.certificate !== undefined),
    };
  };
  const putInForce = (auth: AuthConfig): Promise<void> =>
    // A failed switch must not stop the later ones: the chain goes on from a settled promise.
    (switching = switching
      .catch(() => undefined)
      .then(async () => {
        const text = JSON.stringify(auth);
        // The same list again (a re-offered file): keep its secrets and who is throttled.
        if (text === activeText) return;
        const before = active;
        active = await build(auth, before);
        activeText = text;
        before?.store.close();
        if (active !== undefined) app.log.info({ credentials: auth.credentials.length }, 'credential list in force');
      }));

  if (current !== undefined) switches.set(app, putInForce);
  app.addHook('onReady', () => putInForce(current?.() ?? initial));
  app.addHook('onClose', async () => {
    await switching.catch(() => undefined);
    active?.store.close();
  });

  app.addHook('onRequest', (request, reply, done) => {
    const state = active;
    if (state === undefined) return done();
    const refusal = judge(state, request);
    if (refusal === undefined) return done();
    refusal(reply).then(
      () => {
        if (refusal.action.kind === 'push' || refusal.action.kind === 'delete') observer.countPush(request.method, reply.statusCode);
      },
      (err: Error) => done(err),
    );
  });

  type Refusal = ((reply: FastifyReply) => Promise<void>) & { action: Action };
  const refusalOf = (action: Action, send: (reply: FastifyReply) => Promise<void>): Refusal => Object.assign(send, { action });

  /** Undefined when the request may go on; otherwise what to answer. */
  const judge = (state: InForce, request: FastifyRequest): Refusal | undefined => {
    const action = classifyRequest(request.method, request.url, () => groupingPathOf(request));
    if (action.kind === 'open') return undefined;
    // Before any credential is looked at: a browser would add the ones it holds for the front door.
    const { headers } = request;
    const sign = crossSiteSign(request.method, { site: single(headers['sec-fetch-site']), origin: single(headers.origin), host: headers.host });
    if (sign !== undefined) {
      request.log.info({ sign, action: describeAction(action) }, 'refused: a write from a page of another site');
      return refusalOf(action, (r) => sendError(r, 'PUSHRING_CROSS_SITE', { sign }));
    }
    const { auth, failures } = state;
    const authorization = request.headers.authorization;
    const certificate = state.certificates ? certificateOf(request.raw.socket) : undefined;
    // The socket's address: X-Forwarded-For is not trusted (a client could name any address).
    const address = request.ip;
    const waitS = failures.retryAfterS(address);
    const throttle = (credential: string): Refusal => {
      observer.authRefused(credential, 'throttled');
      const context = { failures: auth.failures.perAddress, windowSeconds: auth.failures.windowSeconds, retryAfterS: waitS };
      return refusalOf(action, (r) => sendError(r, 'PUSHRING_AUTH_THROTTLED', context, { 'retry-after': String(waitS) }));
    };
    // Checked before the secret is: a throttled address learns nothing about what it presents.
    if (waitS > 0 && (authorization !== undefined || certificate !== undefined)) return throttle(UNKNOWN);

    const identity = state.table.identify({ authorization, certificate });
    const decision = decide(state.policy, identity, action);
    if (decision.kind === 'allow') {
      credentials.set(request, decision.credential);
      return undefined;
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
      return refusalOf(action, (r) => sendError(r, 'PUSHRING_UNAUTHENTICATED', { problem: decision.problem }, { 'www-authenticate': state.challenge }));
    }
    observer.authRefused(decision.credential, 'forbidden');
    request.log.info({ credential: decision.credential, address, action: what }, 'refused: out of the credential scope');
    return refusalOf(action, (r) => sendError(r, 'PUSHRING_FORBIDDEN', { credential: decision.credential, action: decision.action }));
  };
}
