/**
 * A real redis-server on a free loopback port with its own directory, nothing persisted.
 */
import { connect } from 'node:net';
import { join } from 'node:path';
import { freePort, removeTempDir, requireBinary, spawnProcess, tempDir, waitFor, type ManagedProcess } from './processes.js';

export interface RedisServer {
  readonly url: string;
  readonly port: number;
  process: ManagedProcess;
  /** SIGKILL, and wait for the exit. */
  kill(): Promise<void>;
  /** Starts again on the same port, empty. */
  restart(): Promise<void>;
  close(): Promise<void>;
}

export async function startRedis(): Promise<RedisServer> {
  const binary = requireBinary('redis-server');
  const dir = await tempDir('pushring-redis-');
  const port = await freePort();
  const launch = async (): Promise<ManagedProcess> => {
    const proc = spawnProcess(
      binary,
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--protected-mode', 'no'],
      { logFile: join(dir, 'redis.log') },
    );
    await waitFor(() => ping(port), { what: `redis-server on port ${port} to answer PING`, timeoutMs: 10_000 });
    return proc;
  };
  const server: RedisServer = {
    url: `redis://127.0.0.1:${port}`,
    port,
    process: await launch(),
    async kill() {
      server.process.kill('SIGKILL');
      await server.process.exited;
    },
    async restart() {
      if (server.process.alive()) await server.kill();
      server.process = await launch();
    },
    async close() {
      await server.kill();
      await removeTempDir(dir);
    },
  };
  return server;
}

/** True once the server answers PING with PONG. */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.setTimeout(500);
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => {
      socket.destroy();
      resolve(data.toString().startsWith('+PONG'));
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}
