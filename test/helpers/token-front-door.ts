/**
 * A front door (test/behaviour/front-door.ts) whose credentials are bearer tokens, each written to
 * a file of its own in a temporary directory (the config reads a token from a file, never inline).
 * Shared by the behaviour tests that need tokens with different scopes (admin, page).
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startFrontDoor, type FrontDoor } from '../behaviour/front-door.js';
import { tempDir } from './processes.js';

export interface TokenCredential {
  readonly name: string;
  readonly token: string;
  readonly push: readonly string[];
  readonly delete: readonly string[];
  readonly admin?: boolean;
}

/**
 * Starts `shards` x `replicas` Pushgateways behind a front door that knows `credentials`;
 * `anonymous` is the config's `auth.anonymous` (omitted: the schema's default). The temporary
 * directory goes with the test file's `removeTempDirs()`.
 */
export async function startTokenFrontDoor(opts: {
  shards: number;
  replicas: number;
  credentials: readonly TokenCredential[];
  anonymous?: Record<string, unknown>;
}): Promise<FrontDoor> {
  const dir = await tempDir('pushring-tokens-');
  const credentials = [];
  for (const [i, c] of opts.credentials.entries()) {
    const file = join(dir, `${i}-${c.name}.token`);
    await writeFile(file, c.token);
    credentials.push({ name: c.name, token: { file }, push: [...c.push], delete: [...c.delete], admin: c.admin ?? false });
  }
  return startFrontDoor({
    shards: opts.shards,
    replicas: opts.replicas,
    config: { auth: { credentials, ...(opts.anonymous === undefined ? {} : { anonymous: opts.anonymous }) } },
  });
}
