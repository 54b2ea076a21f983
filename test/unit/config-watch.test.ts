import { mkdtemp, rename, rm, symlink, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ConfigProblem } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { watchConfig, type ConfigWatcher } from '../../src/config/watch.js';
import { waitFor } from '../helpers/processes.js';

const yaml = (shards: string[]) => `shards:\n${shards.map((s, i) => `  - { name: ${s}, replicas: ["http://127.0.0.1:${9000 + i}"] }`).join('\n')}\n`;

let watcher: ConfigWatcher | undefined;
const dirs: string[] = [];
afterEach(async () => {
  await watcher?.stop();
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

async function setUp(intervalMs = 60_000) {
  const dir = await mkdtemp(join(tmpdir(), 'pushring-watch-'));
  dirs.push(dir);
  const file = join(dir, 'pushring.yaml');
  const initial = yaml(['a']);
  await writeFile(file, initial);
  const changes: Array<Readonly<Config>> = [];
  const problems: Array<readonly ConfigProblem[]> = [];
  watcher = watchConfig(file, initial, intervalMs, { changed: (c) => void changes.push(c), invalid: (p) => void problems.push(p) });
  return { dir, file, changes, problems };
}

describe('watchConfig', () => {
  it('notices a file replaced by rename, as editors do', async () => {
    const { dir, file, changes } = await setUp();
    await writeFile(join(dir, '.pushring.yaml.swp'), yaml(['a', 'b']));
    await rename(join(dir, '.pushring.yaml.swp'), file);
    await waitFor(async () => changes.length === 1, { what: 'the rename to be noticed' });
    expect(changes[0]!.shards.map((s) => s.name)).toEqual(['a', 'b']);
  });

  it('notices a ConfigMap-style symlink swap', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pushring-watch-'));
    dirs.push(dir);
    await mkdir(join(dir, 'v1'));
    await mkdir(join(dir, 'v2'));
    await writeFile(join(dir, 'v1', 'pushring.yaml'), yaml(['a']));
    await writeFile(join(dir, 'v2', 'pushring.yaml'), yaml(['a', 'c']));
    await symlink('v1', join(dir, '..data'));
    await symlink('..data/pushring.yaml', join(dir, 'pushring.yaml'));
    const changes: Array<Readonly<Config>> = [];
    watcher = watchConfig(join(dir, 'pushring.yaml'), yaml(['a']), 60_000, { changed: (c) => void changes.push(c), invalid: () => {} });
    await symlink('v2', join(dir, '..data_tmp'));
    await rename(join(dir, '..data_tmp'), join(dir, '..data'));
    await waitFor(async () => changes.length === 1, { what: 'the symlink swap to be noticed' });
    expect(changes[0]!.shards.map((s) => s.name)).toEqual(['a', 'c']);
  });

  it('re-reads on its timer even without file events, and skips content it has seen', async () => {
    const { file, changes } = await setUp(50);
    await writeFile(file, yaml(['a']));
    await watcher!.check();
    expect(changes).toHaveLength(0);
    await writeFile(file, yaml(['a', 'd']));
    await waitFor(async () => changes.length === 1, { what: 'the timer to pick the change up' });
    await watcher!.check();
    expect(changes).toHaveLength(1);
  });

  it('offers a change again when it could not be applied yet', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pushring-watch-'));
    dirs.push(dir);
    const file = join(dir, 'pushring.yaml');
    await writeFile(file, yaml(['a']));
    let accept = false;
    let offered = 0;
    watcher = watchConfig(file, yaml(['a']), 60_000, { changed: () => (offered++, accept), invalid: () => {} });
    await writeFile(file, yaml(['a', 'b']));
    await watcher.check();
    await watcher.check();
    // Refused: offered at every check (the directory watch may add checks of its own).
    expect(offered).toBeGreaterThanOrEqual(2);
    accept = true;
    await watcher.check();
    const applied = offered;
    await watcher.check();
    await watcher.check();
    expect(offered).toBe(applied);
  });

  it('reports an invalid file and keeps the last good configuration in force', async () => {
    const { file, changes, problems } = await setUp();
    await writeFile(file, 'shards: [{ name: "-bad" }]\n');
    await watcher!.check();
    expect(changes).toHaveLength(0);
    expect(problems.at(-1)!.map((p) => p.path)).toContain('shards[0].name');
    await writeFile(file, yaml(['a', 'e']));
    await watcher!.check();
    expect(changes.map((c) => c.shards.length)).toEqual([2]);
  });
});
