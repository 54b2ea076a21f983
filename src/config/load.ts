/**
 * Loads a configuration once: YAML parsed, defaults applied, every problem reported together
 * (with where it is and what to do), then the result deeply frozen.
 */
import { readFile } from 'node:fs/promises';
import type { TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { LineCounter, parseDocument, type YAMLError } from 'yaml';
import { parseSubject } from '../core/auth.js';
import { ConfigSchema, type Config, type CredentialConfig } from './schema.js';

export interface ConfigProblem {
  /** Where in the file: `shards[1].replicas[0]`, or `(file)`. */
  readonly path: string;
  readonly message: string;
}

export type ConfigResult = { readonly ok: true; readonly config: Readonly<Config> } | { readonly ok: false; readonly problems: readonly ConfigProblem[] };

export class ConfigError extends Error {
  readonly code = 'PUSHRING_CONFIG_INVALID';
  constructor(
    readonly source: string,
    readonly problems: readonly ConfigProblem[],
  ) {
    super(`${source}: invalid configuration\n${formatProblems(problems)}`);
  }
}

export async function loadConfig(file: string): Promise<Readonly<Config>> {
  return (await readConfig(file)).config;
}

/** The configuration in a file, and the text it was read from (what a watcher starts from). */
export async function readConfig(file: string): Promise<{ config: Readonly<Config>; text: string }> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [{ path: '(file)', message: `cannot read: ${(err as Error).message}` }]);
  }
  const result = parseConfig(text);
  if (!result.ok) throw new ConfigError(file, result.problems);
  return { config: result.config, text };
}

export function parseConfig(text: string): ConfigResult {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { prettyErrors: false, lineCounter });
  if (doc.errors.length > 0) {
    return { ok: false, problems: doc.errors.map((e) => ({ path: '(file)', message: explainYamlError(e, text, lineCounter) })) };
  }
  const raw: unknown = doc.toJS();
  return validateConfig(raw ?? {});
}

/** Where a syntax error is (1-based line and column, as editors count) and the line it is on. */
function explainYamlError(error: YAMLError, text: string, lines: LineCounter): string {
  const { line, col } = lines.linePos(error.pos[0]);
  const source = text.split(/\r?\n/)[line - 1]?.trimEnd() ?? '';
  const near = source === '' ? '' : ` (line ${line} reads: ${JSON.stringify(source.length > 60 ? `${source.slice(0, 57)}...` : source)})`;
  return `YAML syntax error at line ${line}, column ${col}: ${error.message}${near}`;
}

export function validateConfig(raw: unknown): ConfigResult {
  const value = Value.Default(ConfigSchema, Value.Clone(raw));
  const problems: ConfigProblem[] = [...Value.Errors(ConfigSchema, value)].map((e) => ({
    path: toPath(e.path),
    message: explainSchemaError(e.path, e.message, e.schema, e.value),
  }));
  // Semantic checks run even when the schema failed, so that one run reports every problem.
  problems.push(...checkSemantics(value as Partial<Config>));
  if (problems.length > 0) return { ok: false, problems: dedupe(problems) };
  return { ok: true, config: deepFreeze(value as Config) };
}

/** Rules a JSON schema cannot state: uniqueness, URL and address syntax. */
function checkSemantics(config: Partial<Config>): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  if (typeof config.listen === 'string' && parseListen(config.listen) === undefined) {
    problems.push({ path: 'listen', message: `"${config.listen}" is not host:port (for example 127.0.0.1:9191)` });
  }
  const shardNames = new Map<string, number>();
  const replicaOwners = new Map<string, string>();
  const shards = Array.isArray(config.shards) ? config.shards : [];
  shards.forEach((shard, i) => {
    if (typeof shard !== 'object' || shard === null) return;
    const seen = typeof shard.name === 'string' ? shardNames.get(shard.name) : undefined;
    if (typeof shard.name !== 'string') {
      // reported by the schema
    } else if (seen !== undefined) {
      problems.push({ path: `shards[${i}].name`, message: `shard name "${shard.name}" is already used by shards[${seen}]; names must be unique` });
    } else {
      shardNames.set(shard.name, i);
    }
    const replicas: unknown[] = Array.isArray(shard.replicas) ? shard.replicas : [];
    const shardClient = isObject(shard.client) ? shard.client : undefined;
    problems.push(...checkClientPairs(shardClient, `shards[${i}].client`));
    replicas.forEach((replica, j) => {
      const url = typeof replica === 'string' ? replica : isObject(replica) ? replica['url'] : undefined;
      if (typeof url !== 'string') return;
      const path = `shards[${i}].replicas[${j}]`;
      const problem = checkReplicaUrl(url);
      if (problem !== undefined) {
        problems.push({ path: typeof replica === 'string' ? path : `${path}.url`, message: problem });
        return;
      }
      const own = isObject(replica) && isObject(replica['client']) ? replica['client'] : undefined;
      problems.push(...checkClientPairs(own, `${path}.client`), ...checkClientScheme(url, path, shardClient, `shards[${i}].client`, own));
      const key = normaliseUrl(url);
      const owner = replicaOwners.get(key);
      if (owner !== undefined) {
        problems.push({ path, message: `${url} is already listed at ${owner}; a Pushgateway can serve one replica of one shard only` });
      } else {
        replicaOwners.set(key, path);
      }
    });
  });
  if (shards.length > 0 && shards.every((s) => typeof s === 'object' && s !== null && s.draining === true)) {
    problems.push({ path: 'shards', message: 'every shard is draining: at least one must own groups (add a shard before draining the last)' });
  }
  problems.push(...checkLimits(config), ...checkRedis(config), ...checkDiscovery(config), ...checkAuth(config), ...checkTls(config), ...checkServer(config));
  return problems;
}

/**
 * Credentials: one kind each, unique names and basic user names, certificate subjects that parse
 * and a CA to verify them against. Empty globs are refused by the schema (`minLength`).
 */
function checkAuth(config: Partial<Config>): ConfigProblem[] {
  const credentials: unknown[] = Array.isArray(config.auth?.credentials) ? config.auth.credentials : [];
  const problems: ConfigProblem[] = [];
  const names = new Map<string, number>();
  const usernames = new Map<string, number>();
  credentials.forEach((raw, i) => {
    if (typeof raw !== 'object' || raw === null) return;
    const c = raw as Partial<CredentialConfig>;
    const path = `auth.credentials[${i}]`;
    const kinds = (['token', 'basic', 'certificate'] as const).filter((k) => c[k] !== undefined);
    if (kinds.length !== 1) {
      problems.push({
        path,
        message:
          kinds.length === 0
            ? 'give one of token ({ file } or { env }), basic ({ username, password }) or certificate ({ subject })'
            : `give exactly one of token, basic or certificate, not ${kinds.join(' and ')}; make one credential of each`,
      });
    }
    if (typeof c.name === 'string') {
      const seen = names.get(c.name);
      if (seen !== undefined)
        problems.push({ path: `${path}.name`, message: `credential name "${c.name}" is already used by auth.credentials[${seen}]; names must be unique` });
      else names.set(c.name, i);
    }
    const username = c.basic?.username;
    if (typeof username === 'string') {
      const seen = usernames.get(username);
      if (seen !== undefined) {
        problems.push({ path: `${path}.basic.username`, message: `user name "${username}" is already used by auth.credentials[${seen}]; give each its own` });
      } else usernames.set(username, i);
    }
    const subject = c.certificate?.subject;
    if (typeof subject === 'string') {
      const parsed = parseSubject(subject);
      if (!parsed.ok) problems.push({ path: `${path}.certificate.subject`, message: parsed.problem });
      if (config.tls?.clientCaFile === undefined) {
        problems.push({
          path: `${path}.certificate`,
          message: 'a certificate credential needs tls.clientCaFile (the CA that signs client certificates) and tls',
        });
      }
    }
    for (const scope of ['push', 'delete'] as const) {
      const globs: unknown = c[scope];
      if (!Array.isArray(globs)) continue;
      globs.forEach((g, j) => {
        if (typeof g === 'string' && g.trim() === '')
          problems.push({ path: `${path}.${scope}[${j}]`, message: 'is an empty glob; remove it, or write * for every job' });
      });
    }
  });
  const anonymous = config.auth?.anonymous;
  for (const scope of ['push', 'delete'] as const) {
    const globs: unknown = anonymous?.[scope];
    if (!Array.isArray(globs)) continue;
    globs.forEach((g, j) => {
      if (typeof g === 'string' && g.trim() === '')
        problems.push({ path: `auth.anonymous.${scope}[${j}]`, message: 'is an empty glob; remove it, or write * for every job' });
    });
  }
  return problems;
}

/**
 * HTTPS on the front door. The files themselves are read when the app is built (a missing one
 * fails the start naming its path); one file may hold both certificate and key.
 */
function checkTls(config: Partial<Config>): ConfigProblem[] {
  const tls = config.tls;
  if (typeof tls !== 'object' || tls === null || typeof tls.clientCaFile !== 'string') return [];
  // The private key read as client CAs would trust no one, and puts the key where CAs are expected.
  if (tls.clientCaFile === tls.keyFile) {
    return [
      { path: 'tls.clientCaFile', message: 'is the same file as tls.keyFile: give the CA certificates that sign client certificates, not the private key' },
    ];
  }
  return [];
}

/** The body budget must hold the largest push alone: its body and its inflation. */
function checkServer(config: Partial<Config>): ConfigProblem[] {
  const budget = config.server?.maxInflightBodyBytes;
  const body = config.write?.maxBodyBytes;
  const inflated = config.judge?.maxInflatedBytes;
  if (typeof budget !== 'number' || typeof body !== 'number' || typeof inflated !== 'number' || budget >= body + inflated) return [];
  return [
    {
      path: 'server.maxInflightBodyBytes',
      message: `${budget} is less than write.maxBodyBytes + judge.maxInflatedBytes (${body + inflated}): the largest push would never fit; raise it or lower those`,
    },
  ];
}

function checkLimits(config: Partial<Config>): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const rules = Array.isArray(config.limits?.rules) ? config.limits.rules : [];
  const names = new Map<string, number>();
  rules.forEach((rule, i) => {
    if (typeof rule !== 'object' || rule === null) return;
    const path = `limits.rules[${i}]`;
    const limited = rule.pushes !== undefined || rule.windowSeconds !== undefined;
    if (rule.exempt === true && limited) {
      problems.push({ path, message: 'an exempt rule takes no pushes or windowSeconds; remove them or exempt: true' });
    } else if (rule.exempt !== true && (rule.pushes === undefined || rule.windowSeconds === undefined)) {
      problems.push({ path, message: 'give both pushes and windowSeconds (for example pushes: 100, windowSeconds: 60), or exempt: true' });
    }
    const name = rule.name ?? rule.jobs;
    const seen = names.get(name);
    if (typeof name === 'string' && seen !== undefined) {
      problems.push({ path: `${path}.name`, message: `rule name "${name}" is already used by limits.rules[${seen}]; give each rule its own name` });
    } else if (typeof name === 'string') {
      names.set(name, i);
    }
  });
  return problems;
}

function checkRedis(config: Partial<Config>): ConfigProblem[] {
  const redis = config.redis;
  if (redis === undefined || typeof redis !== 'object' || redis === null) return [];
  const forms = [redis.url, redis.sentinels, redis.cluster].filter((f) => f !== undefined).length;
  if (forms !== 1) {
    return [{ path: 'redis', message: 'give exactly one of url, sentinels (with sentinelName) or cluster' }];
  }
  if (redis.sentinels !== undefined && redis.sentinelName === undefined) {
    return [{ path: 'redis.sentinelName', message: 'is required with sentinels: the name of the master set (for example mymaster)' }];
  }
  if (redis.url !== undefined && !/^rediss?:\/\//.test(redis.url)) {
    return [{ path: 'redis.url', message: `"${redis.url}" must start with redis:// or rediss://` }];
  }
  return [];
}

function checkDiscovery(config: Partial<Config>): ConfigProblem[] {
  const d = config.discovery;
  if (d === undefined || typeof d !== 'object' || d === null) return [];
  const problems: ConfigProblem[] = [];
  if (d.shardLabel === d.replicaLabel) {
    problems.push({ path: 'discovery.replicaLabel', message: `must differ from discovery.shardLabel ("${d.shardLabel}")` });
  }
  for (const name of Object.keys(d.labels ?? {})) {
    if (name === d.shardLabel || name === d.replicaLabel || name.startsWith('__')) {
      problems.push({ path: `discovery.labels.${name}`, message: 'is set by pushring itself (or reserved by Prometheus); choose another label name' });
    }
  }
  return problems;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A client certificate is a pair: its file and its key's, given at the same level. */
function checkClientPairs(client: Record<string, unknown> | undefined, path: string): ConfigProblem[] {
  if (client === undefined) return [];
  if (client['certFile'] !== undefined && client['keyFile'] === undefined) {
    return [{ path: `${path}.keyFile`, message: "is required with certFile: give the PEM file of the client certificate's private key" }];
  }
  if (client['keyFile'] !== undefined && client['certFile'] === undefined) {
    return [{ path: `${path}.certFile`, message: 'is required with keyFile: give the PEM file of the client certificate' }];
  }
  return [];
}

/** TLS settings in force for a replica (its own, else its shard's) mean nothing on plain HTTP. */
function checkClientScheme(
  url: string,
  path: string,
  shard: Record<string, unknown> | undefined,
  shardPath: string,
  own: Record<string, unknown> | undefined,
): ConfigProblem[] {
  if (!url.toLowerCase().startsWith('http:')) return [];
  const problems: ConfigProblem[] = [];
  for (const field of ['caFile', 'certFile', 'serverName']) {
    const at = own?.[field] !== undefined ? `${path}.client.${field}` : shard?.[field] !== undefined ? `${shardPath}.${field}` : undefined;
    if (at === undefined) continue;
    problems.push({ path, message: `${url} is plain HTTP but ${at} is set: use an https:// URL for a Pushgateway behind TLS` });
  }
  return problems;
}

function checkReplicaUrl(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return `"${url}" is not a URL; write it as http://host:port`;
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    return `"${url}" must use http or https`;
  }
  if (parsed.search !== '' || parsed.hash !== '') return `"${url}" must not have a query or fragment`;
  // Said without the URL itself: it holds a password.
  if (parsed.username !== '' || parsed.password !== '') {
    return `the URL of ${parsed.protocol}//${parsed.host} carries credentials: remove them and give client.basicAuth (its password from a file or env)`;
  }
  return undefined;
}

export function normaliseUrl(url: string): string {
  const parsed = new URL(url);
  return `${parsed.protocol}//${parsed.host}${basePathOf(parsed)}`;
}

/** A replica URL's path prefix (`--web.route-prefix`), without trailing slashes: '' for none. */
export function basePathOf(url: URL): string {
  return url.pathname.replace(/\/+$/, '');
}

export function parseListen(listen: string): { host: string; port: number } | undefined {
  const colon = listen.lastIndexOf(':');
  if (colon === -1) return undefined;
  let host = listen.slice(0, colon);
  const portText = listen.slice(colon + 1);
  if (!/^\d{1,5}$/.test(portText)) return undefined;
  const port = Number(portText);
  if (port > 65535) return undefined;
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  return { host: host === '' ? '0.0.0.0' : host, port };
}

export function formatProblems(problems: readonly ConfigProblem[]): string {
  return problems.map((p) => `  - ${p.path}: ${p.message}`).join('\n');
}

function toPath(pointer: string): string {
  if (pointer === '') return '(top level)';
  return pointer
    .slice(1)
    .split('/')
    .map((part, i) => (/^\d+$/.test(part) ? `[${part}]` : (i === 0 ? '' : '.') + part))
    .join('');
}

function explainSchemaError(pointer: string, message: string, schema: TSchema, value: unknown): string {
  const choices = (schema.anyOf as TSchema[] | undefined)?.map((s) => s.const as unknown);
  if (choices !== undefined && choices.every((c) => typeof c === 'string')) {
    return `must be one of ${choices.map((c) => `"${String(c)}"`).join(', ')}`;
  }
  if (/\/shards\/\d+\/replicas\/\d+$/.test(pointer) && message === 'Expected union value') return explainReplicaError(schema, value);
  if (/\/shards\/\d+\/name$/.test(pointer)) {
    return `${message}: a shard name is 1-63 letters, digits, '_', '.' or '-', starting with a letter or digit`;
  }
  if (message === 'Expected required property') return 'is required; see the configuration reference in docs/configuration.md';
  if (message.startsWith('Unexpected property')) return `${message}; see the configuration reference in docs/configuration.md`;
  return message;
}

/** A replica that is neither a URL nor a valid `{ url, client }`: what is wrong with the object form. */
function explainReplicaError(union: TSchema, value: unknown): string {
  const form = (union.anyOf as TSchema[] | undefined)?.find((s) => s.type === 'object');
  const first = typeof value === 'object' && value !== null && form !== undefined ? Value.Errors(form, value).First() : undefined;
  const where = first === undefined ? '' : `${toPath(first.path).replace(/^\(top level\)$/, 'it')}: `;
  const what = first === undefined ? '' : ` (${where}${explainSchemaError(first.path, first.message, first.schema, first.value)})`;
  return `is neither a URL string nor { url, client }${what}`;
}

function dedupe(problems: ConfigProblem[]): ConfigProblem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const key = `${p.path}\u0000${p.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
