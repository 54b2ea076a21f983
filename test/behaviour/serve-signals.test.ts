/**
 * `pushring serve` stopped by a signal, through the real bin in its own process group: it logs
 * the shutdown and "closed" and exits 0, also when the signal comes during start-up or twice.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, spawnProcess, tempDir, waitFor, type ManagedProcess } from '../helpers/processes.js';
import { startPushgateway, type Pushgateway } from '../helpers/pushgateway.js';

const backends: Pushgateway[] = [];
const servers: Server[] = [];
const sockets: Socket[] = [];
afterAll(async () => {
  for (const s of sockets) s.destroy();
  for (const s of servers) s.close();
  await Promise.all(backends.map((b) => b.close()));
});

async function serve(
  replicas: string[],
  extra: string[] = [],
): Promise<{ process: ManagedProcess; url: string; log: () => Promise<Array<Record<string, unknown>>> }> {
  const dir = await tempDir('pushring-signals-');
  const port = await freePort();
  const config = join(dir, 'pushring.yaml');
  await writeFile(config, [`listen: "127.0.0.1:${port}"`, ...extra, 'shards:', `  - { name: a, replicas: ${JSON.stringify(replicas)} }`].join('\n'));
  const logFile = join(dir, 'serve.log');
  const server = spawnProcess(process.execPath, ['bin/pushring.js', 'serve', '--config', config], { logFile });
  const log = async () =>
    (await readFile(logFile, 'utf8'))
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  return { process: server, url: `http://127.0.0.1:${port}`, log };
}

const messages = (lines: Array<Record<string, unknown>>) => lines.map((l) => l['msg']);

describe('pushring serve and signals', () => {
  it.each(['SIGTERM', 'SIGINT'] as const)('logs the shutdown and "closed" on %s, then exits 0', async (signal) => {
    const pushgateway = await startPushgateway();
    backends.push(pushgateway);
    const door = await serve([pushgateway.url]);
    await waitFor(async () => (await fetch(`${door.url}/-/ready`)).ok, { what: 'pushring serve to be ready', timeoutMs: 15_000 });
    door.process.kill(signal);
    expect(await door.process.exited).toBe(0);
    const lines = await door.log();
    expect(lines.find((l) => l['msg'] === 'shutting down: finishing in-flight pushes')?.['signal']).toBe(signal);
    expect(messages(lines).at(-1)).toBe('closed');
  });

  it('a signal during start-up ends it, logged; a second one is noted', async () => {
    // A replica that accepts connections and never answers: the start-up waits for its probe.
    let probed = 0;
    const blackHole = createServer((socket) => {
      probed++;
      sockets.push(socket);
    });
    servers.push(blackHole);
    await new Promise<void>((resolve) => blackHole.listen(0, '127.0.0.1', resolve));
    const hole = `http://127.0.0.1:${(blackHole.address() as { port: number }).port}`;
    const door = await serve([hole], ['health: { timeoutMs: 3000 }']);
    await waitFor(async () => probed > 0, { what: 'the start-up probe to reach the replica', timeoutMs: 15_000 });
    door.process.kill('SIGTERM');
    await waitFor(async () => messages(await door.log()).includes('shutting down: finishing in-flight pushes'), { what: 'the shutdown to be logged' });
    door.process.kill('SIGTERM');
    expect(await door.process.exited).toBe(0);
    const said = messages(await door.log());
    expect(said).toContain('already shutting down: waiting for what is under way to finish (SIGKILL stops at once)');
    expect(said).not.toContain('pushring front door listening');
    expect(said.at(-1)).toBe('closed');
  });
});
