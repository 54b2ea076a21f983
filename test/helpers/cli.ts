/** What `main(argv, io)` of src/cli writes, captured; and the real bin run as a process. */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { CliIo } from '../../src/cli/main.js';

export function captureIo(): { io: CliIo; out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return {
    io: { stdout: { write: (t: string) => (out += t) }, stderr: { write: (t: string) => (err += t) } },
    out: () => out,
    err: () => err,
  };
}

export interface CliRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the real `pushring` bin (the compiled CLI in dist/: `npm run build` first) to its end. */
export async function runPushring(args: readonly string[], opts: { cwd?: string } = {}): Promise<CliRun> {
  // A short-lived command: killed if it hangs, so that a stuck run cannot outlive the test.
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: opts.cwd ?? process.cwd(),
    stdio: ['ignore', 'pipe', 'pipe'],
    signal: AbortSignal.timeout(30_000),
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (exitCode) => resolve(exitCode));
  });
  return { code, stdout, stderr };
}

const BIN = fileURLToPath(new URL('../../bin/pushring.js', import.meta.url));
