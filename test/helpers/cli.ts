/** What `main(argv, io)` of src/cli writes, captured. */
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
