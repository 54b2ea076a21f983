/**
 * Notices a changed configuration file. Watches the file's *directory* (editors and Kubernetes
 * ConfigMaps replace files by rename or symlink swap, which a watch on the file itself misses)
 * and re-reads on a timer as well (watches can miss events, and some file systems have none);
 * content already seen is skipped; a file that does not parse or validate is reported and
 * the last good configuration stays in force.
 */
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { parseConfig, type ConfigProblem } from './load.js';
import type { Config } from './schema.js';

export interface ConfigWatchEvents {
  /**
   * A new, valid configuration (different content from the last one applied). Resolving to false
   * means "not applied now": the same content is offered again at the next check.
   */
  changed(config: Readonly<Config>): boolean | void | Promise<boolean | void>;
  /** The file changed but cannot be used; the last good configuration stays. */
  invalid(problems: readonly ConfigProblem[]): void;
}

export interface ConfigWatcher {
  /** Reads the file now (also what the watch and the timer do). */
  check(): Promise<void>;
  /** Stops watching; settles once a check (and the reload it started) in flight is done. */
  stop(): Promise<void>;
}

export function watchConfig(file: string, initialText: string, intervalMs: number, events: ConfigWatchEvents): ConfigWatcher {
  let lastText = initialText;
  let checking: Promise<void> | undefined;
  let again = false;
  let stopped = false;

  const checkOnce = async (): Promise<void> => {
    const text = await readFile(file, 'utf8').catch((err: Error) => {
      // Mid-swap the file may be briefly absent; the next event or tick reads it again.
      events.invalid([{ path: '(file)', message: `cannot read: ${err.message}` }]);
      return undefined;
    });
    if (text === undefined) return;
    if (text === lastText) return;
    const previousText = lastText;
    lastText = text;
    const result = parseConfig(text);
    if (!result.ok) events.invalid(result.problems);
    else if ((await events.changed(result.config)) === false) lastText = previousText;
  };

  // One check at a time; events during a check cause exactly one more.
  const check = async (): Promise<void> => {
    if (stopped) return;
    if (checking !== undefined) {
      again = true;
      return checking;
    }
    checking = (async () => {
      do {
        again = false;
        await checkOnce();
      } while (again && !stopped);
    })().finally(() => (checking = undefined));
    return checking;
  };

  let watcher: FSWatcher | undefined;
  try {
    const name = basename(file);
    watcher = watch(dirname(file), (_event, changed) => {
      // A ConfigMap swaps a `..data` symlink, not the file: any change in the directory counts.
      if (changed === null || changed === name || changed.startsWith('..')) void check();
    });
    watcher.on('error', () => undefined);
  } catch {
    watcher = undefined; // no watch support: the timer alone
  }
  const timer = setInterval(() => void check(), intervalMs);
  timer.unref();
  return {
    check,
    async stop() {
      stopped = true;
      clearInterval(timer);
      watcher?.close();
      // A reload in flight would otherwise apply a ring, beat and write file_sd after close.
      await checking?.catch(() => undefined);
    },
  };
}
