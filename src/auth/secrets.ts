/**
 * Secrets named in the configuration (`{ file }` or `{ env }`, never the value itself), read at
 * start and read again every interval, so that a rotated secret is in force without a restart.
 * A value is never logged: messages name where a secret comes from, not what it is.
 */
import { readFile } from 'node:fs/promises';
import type { SecretSource } from '../config/schema.js';

/** Secrets longer than this are refused: a secret is a token or a password, not a file's worth. */
export const MAX_SECRET_BYTES = 4_096;

/** Where a secret comes from, for messages: `file /etc/pushring/token` or `env PUSH_TOKEN`. */
export function describeSecret(source: SecretSource): string {
  return 'file' in source ? `file ${source.file}` : `env ${source.env}`;
}

/** Reads one secret; one trailing newline (`\n` or `\r\n`) is dropped. Throws with where, never what. */
export async function readSecret(source: SecretSource, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  let value: string | undefined;
  if ('file' in source) {
    const bytes = await readFile(source.file).catch((err: NodeJS.ErrnoException) => {
      throw new Error(`cannot read the secret in ${describeSecret(source)}: ${err.code ?? err.message}`);
    });
    if (bytes.length > MAX_SECRET_BYTES) throw new Error(`the secret in ${describeSecret(source)} is longer than ${MAX_SECRET_BYTES} bytes`);
    value = bytes.toString('utf8');
  } else {
    value = env[source.env];
    if (value === undefined) throw new Error(`the environment variable ${source.env} holding a secret is not set`);
    if (Buffer.byteLength(value) > MAX_SECRET_BYTES) throw new Error(`the secret in ${describeSecret(source)} is longer than ${MAX_SECRET_BYTES} bytes`);
  }
  value = value.replace(/\r?\n$/, '');
  if (value === '') throw new Error(`the secret in ${describeSecret(source)} is empty`);
  return value;
}

export interface SecretStore {
  /** The secret's value as last read successfully (a failed read keeps it: see `failed`); undefined until one succeeded. */
  get(source: SecretSource): string | undefined;
  /** Whether the last read of this secret failed (its last value, if any, is still what `get` gives). */
  failed(source: SecretSource): boolean;
  /** Reads every secret again now. */
  refresh(): Promise<void>;
  close(): void;
}

export interface SecretStoreOptions {
  readonly reloadMs: number;
  /** A secret could not be read (once per distinct message in a row); its last value stays in force. */
  readonly onError: (where: string, message: string) => void;
  /** A secret was read with another value than before (rotation). */
  readonly onChange?: (where: string) => void;
  /** Every secret was read again (at start and after each interval): what is derived from them can be rebuilt. */
  readonly onRefreshed?: () => void;
  readonly env?: NodeJS.ProcessEnv;
}

/** Reads `sources` now (a secret that cannot be read is reported, not thrown), then every `reloadMs`. */
export async function createSecretStore(sources: readonly SecretSource[], options: SecretStoreOptions): Promise<SecretStore> {
  const unique = new Map(sources.map((s) => [describeSecret(s), s]));
  const values = new Map<string, string>();
  const lastError = new Map<string, string>();
  const refresh = async (): Promise<void> => {
    await Promise.all(
      [...unique].map(async ([where, source]) => {
        try {
          const value = await readSecret(source, options.env);
          const before = values.get(where);
          values.set(where, value);
          lastError.delete(where);
          if (before !== undefined && before !== value) options.onChange?.(where);
        } catch (err) {
          const message = (err as Error).message;
          if (lastError.get(where) !== message) options.onError(where, message);
          lastError.set(where, message);
        }
      }),
    );
    options.onRefreshed?.();
  };
  await refresh();
  let refreshing: Promise<void> | undefined;
  const timer = unique.size === 0 ? undefined : setInterval(() => void (refreshing ??= refresh().finally(() => (refreshing = undefined))), options.reloadMs);
  timer?.unref();
  return {
    get: (source) => values.get(describeSecret(source)),
    failed: (source) => lastError.has(describeSecret(source)),
    refresh,
    close: () => {
      if (timer !== undefined) clearInterval(timer);
    },
  };
}
