/**
 * The credential table (config `auth.credentials`) over the secrets as last read: who a request
 * is, from its `Authorization` header or its verified client certificate. Secrets are compared in
 * constant time: both sides hashed with SHA-256, the digests compared with timingSafeEqual, and a
 * token is looked up by its digest, never by its value. A secret that cannot be read makes its
 * credential match nothing until it can be read again (deleting a token file revokes it).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { UNKNOWN, compileScope, matchesSubject, parseAuthorization, parseSubject, type Identity, type Scope, type SubjectPattern } from '../core/auth.js';
import type { AuthConfig, SecretSource } from '../config/schema.js';
import type { ClientCertificate } from '../http/tls.js';
import type { SecretStore } from './secrets.js';

export const NO_TOKEN_MATCH = 'the bearer token matches no credential';
export const NO_BASIC_MATCH = 'the basic-auth user name and password match no credential';

export interface Presented {
  /** The `Authorization` header, if the request has one. */
  readonly authorization?: string | undefined;
  readonly certificate?: ClientCertificate | undefined;
}

export interface CredentialTable {
  /** Who the request is; a header, when present, decides alone (a certificate beside it is ignored). */
  identify(presented: Presented): Identity;
  /** Reads the secrets as they are now into the table (the SecretStore calls it after every read). */
  rebuild(): void;
  /** Credentials whose secret cannot be read now (they match nothing). */
  unreadableSecrets(): number;
}

interface Entry {
  readonly name: string;
  readonly scope: Scope;
}

interface TokenEntry extends Entry {
  readonly digest: Buffer;
}

const digestOf = (secret: string): Buffer => createHash('sha256').update(secret, 'utf8').digest();
// Compared against when a user name is unknown, so that an unknown name costs what a known one does.
const NO_DIGEST = digestOf('');

export function sourcesOf(auth: AuthConfig): SecretSource[] {
  return auth.credentials.flatMap((c) => (c.token !== undefined ? [c.token] : c.basic !== undefined ? [c.basic.password] : []));
}

/**
 * The table over `secrets`. `warn` hears of two credentials with one token (the first in the
 * configuration wins), by name only.
 */
export function createCredentialTable(
  auth: AuthConfig,
  secrets: Pick<SecretStore, 'get' | 'failed'>,
  warn: (message: string) => void = () => undefined,
): CredentialTable {
  const certificates: Array<Entry & { readonly pattern: SubjectPattern }> = [];
  const tokenCredentials: Array<{ readonly entry: Entry; readonly source: SecretSource }> = [];
  const basicCredentials = new Map<string, { readonly entry: Entry; readonly source: SecretSource }>();
  for (const c of auth.credentials) {
    const entry: Entry = { name: c.name, scope: compileScope(c) };
    if (c.token !== undefined) tokenCredentials.push({ entry, source: c.token });
    else if (c.basic !== undefined) {
      if (!basicCredentials.has(c.basic.username)) basicCredentials.set(c.basic.username, { entry, source: c.basic.password });
    } else if (c.certificate !== undefined) {
      const parsed = parseSubject(c.certificate.subject);
      // The configuration check refuses a subject that does not parse; never match on one anyway.
      if (parsed.ok) certificates.push({ ...entry, pattern: parsed.pattern });
    }
  }

  let tokens = new Map<string, TokenEntry>();
  let passwords = new Map<string, Buffer>();
  let unreadable = 0;
  const warned = new Set<string>();
  const readable = (source: SecretSource): string | undefined => (secrets.failed(source) ? undefined : secrets.get(source));

  const rebuild = (): void => {
    const nextTokens = new Map<string, TokenEntry>();
    const nextPasswords = new Map<string, Buffer>();
    let nextUnreadable = 0;
    for (const { entry, source } of tokenCredentials) {
      const value = readable(source);
      if (value === undefined) {
        nextUnreadable++;
        continue;
      }
      const digest = digestOf(value);
      const key = digest.toString('hex');
      const first = nextTokens.get(key);
      if (first === undefined) nextTokens.set(key, { ...entry, digest });
      else if (!warned.has(entry.name)) {
        warned.add(entry.name);
        warn(`credentials "${first.name}" and "${entry.name}" have the same token; it is taken as "${first.name}"`);
      }
    }
    for (const [username, { source }] of basicCredentials) {
      const value = readable(source);
      if (value === undefined) nextUnreadable++;
      else nextPasswords.set(username, digestOf(value));
    }
    tokens = nextTokens;
    passwords = nextPasswords;
    unreadable = nextUnreadable;
  };
  rebuild();

  const identify = (presented: Presented): Identity => {
    if (presented.authorization !== undefined) {
      const header = parseAuthorization(presented.authorization);
      if (!header.ok) return { kind: 'invalid', problem: header.problem, credential: UNKNOWN };
      if (header.kind === 'bearer') {
        const digest = digestOf(header.token);
        const found = tokens.get(digest.toString('hex'));
        if (found !== undefined && timingSafeEqual(found.digest, digest)) return { kind: 'credential', name: found.name, scope: found.scope };
        return { kind: 'invalid', problem: NO_TOKEN_MATCH, credential: UNKNOWN };
      }
      const user = basicCredentials.get(header.username);
      const expected = passwords.get(header.username);
      const equal = timingSafeEqual(expected ?? NO_DIGEST, digestOf(header.password));
      if (user !== undefined && expected !== undefined && equal) return { kind: 'credential', name: user.entry.name, scope: user.entry.scope };
      // A known user name with a wrong password is counted under its credential (names are not secrets).
      return { kind: 'invalid', problem: NO_BASIC_MATCH, credential: user?.entry.name ?? UNKNOWN };
    }
    if (presented.certificate !== undefined) {
      // The first in the configuration that matches: a certificate has one identity.
      const subject = presented.certificate.subject;
      const found = certificates.find((c) => matchesSubject(c.pattern, subject));
      if (found !== undefined) return { kind: 'credential', name: found.name, scope: found.scope };
    }
    return { kind: 'anonymous' };
  };

  return { identify, rebuild, unreadableSecrets: () => unreadable };
}
