/**
 * Certificates for the tests, made by the real `openssl`: a CA of their own, server certificates
 * for 127.0.0.1, client certificates with the subject a test asks for. Everything lives in a
 * temporary directory of the test (removed with the others); keys are P-256, valid for two days.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { requireBinary, tempDir } from './processes.js';

const run = promisify(execFile);

export interface KeyPair {
  readonly certFile: string;
  readonly keyFile: string;
}

export interface TestCa {
  readonly dir: string;
  /** The CA's own certificate: what a client or server trusts. */
  readonly caFile: string;
  /** A server certificate for 127.0.0.1 and localhost. */
  server(name?: string): Promise<KeyPair>;
  /** A client certificate whose subject is `subject`, `/CN=batch-1/O=team-a` (openssl's form). */
  client(subject: string): Promise<KeyPair>;
}

let issued = 0;

/** `openssl req` arguments for a new P-256 key, unencrypted, written to the path that follows. */
const NEW_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout'];

export async function createTestCa(name = 'pushring test CA'): Promise<TestCa> {
  const openssl = requireBinary('openssl');
  const dir = await tempDir('pushring-certs-');
  const caFile = join(dir, 'ca.crt');
  const caKey = join(dir, 'ca.key');
  await run(openssl, ['req', '-x509', ...NEW_KEY, caKey, '-out', caFile, '-days', '2', '-subj', `/CN=${name}`]);
  const issue = async (subject: string, extensions: string): Promise<KeyPair> => {
    const base = join(dir, `cert-${++issued}`);
    const pair = { certFile: `${base}.crt`, keyFile: `${base}.key` };
    await run(openssl, ['req', ...NEW_KEY, pair.keyFile, '-out', `${base}.csr`, '-subj', subject]);
    await writeFile(`${base}.ext`, extensions);
    // A random serial each: openssl's shared serial file races between concurrent issues.
    const serial = `0x${randomBytes(16).toString('hex')}`;
    await run(openssl, [
      'x509',
      '-req',
      '-in',
      `${base}.csr`,
      '-CA',
      caFile,
      '-CAkey',
      caKey,
      '-set_serial',
      serial,
      '-out',
      pair.certFile,
      '-days',
      '2',
      '-extfile',
      `${base}.ext`,
    ]);
    return pair;
  };
  return {
    dir,
    caFile,
    server: (cn = 'localhost') => issue(`/CN=${cn}`, 'basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n'),
    client: (subject) => issue(subject, 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n'),
  };
}
