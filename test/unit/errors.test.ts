import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERRORS, renderError, type ErrorCode } from '../../src/http/errors.js';

const reference = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
const codes = Object.keys(ERRORS) as ErrorCode[];

describe('the error catalogue', () => {
  it.each(codes)('%s is documented in docs/errors.md with its status', (code) => {
    const row = reference.split('\n').find((line) => line.startsWith(`| \`${code}\``));
    expect(row, `docs/errors.md has no row for ${code}`).toBeDefined();
    expect(row).toContain(`| ${ERRORS[code].status} |`);
  });

  it.each(codes)('%s is an error status with a one-line message that names pushring', (code) => {
    const { status, body } = renderError(code, {
      shard: 'a',
      stored: 1,
      replicas: 2,
      required: 2,
      limitBytes: 1024,
      job: 'j',
      rule: 'default',
      pushes: 100,
      windowSeconds: 60,
      retryAfterS: 3,
      label: 'replica',
      limit: 'maxFamilies',
      max: 10,
      group: '{job="j"}',
      maxSeries: 1000,
      reason: 'the reason',
      problem: 'no credential was sent',
      credential: 'team-a',
      action: 'push to job "j"',
      failures: 10,
      sign: 'Sec-Fetch-Site: cross-site',
      reads: 4,
    });
    expect(status).toBeGreaterThanOrEqual(400);
    expect(body).toMatch(/^pushring: [^\n]+\n$/);
    expect(body).not.toContain('undefined');
  });
});
