/**
 * The shipped Prometheus configuration and rules (config/prometheus.yml, config/rules/) are
 * checked by promtool: the configuration loads, the rules parse, and the rule unit tests pass.
 * promtool is required: a missing binary fails this suite instead of skipping it.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { requireBinary } from '../helpers/processes.js';

const CONFIG = 'config/prometheus.yml';
const RULE_FILES = ['config/rules/pushring-recording.yml', 'config/rules/pushring-alerts.yml'];
const RULE_TESTS = 'config/rules/pushring-alerts.test.yml';

interface RunResult {
  code: number | null;
  output: string;
}

/** Runs promtool from the repository root; never rejects, so a failure shows promtool's output. */
async function promtool(...args: string[]): Promise<RunResult> {
  const bin = requireBinary('promtool');
  return new Promise((resolve) => {
    execFile(bin, args, { timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
      const output = `$ promtool ${args.join(' ')}\n${stdout}${stderr}${err !== null && code === null ? `\n${err.message}` : ''}`;
      resolve({ code, output });
    });
  });
}

function expectSuccess(result: RunResult): void {
  // The message carries everything promtool said, so a failure shows why.
  expect(result.code, `promtool failed:\n${result.output}`).toBe(0);
}

interface Rule {
  record?: string;
  alert?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface RuleFile {
  groups: Array<{ name: string; rules: Rule[] }>;
}
interface RuleTestFile {
  rule_files: string[];
  tests: Array<{
    promql_expr_test?: Array<{ expr: string; exp_samples?: unknown[] }>;
    alert_rule_test?: Array<{ alertname: string; exp_alerts?: unknown[] }>;
  }>;
}

async function readYaml<T>(path: string): Promise<T> {
  return parse(await readFile(path, 'utf8')) as T;
}

describe('the shipped Prometheus configuration', () => {
  it('passes promtool check config (the file_sd target file need not exist yet)', async () => {
    // promtool only warns about a missing file_sd file, so the configuration is checked in
    // place; its rule files are resolved against config/ and checked too.
    const result = await promtool('check', 'config', CONFIG);
    expectSuccess(result);
    expect(result.output).toContain('SUCCESS: 2 rule files found');
  });

  it('passes promtool check rules', async () => {
    const result = await promtool('check', 'rules', ...RULE_FILES);
    expectSuccess(result);
  });

  it('passes the rule unit tests (promtool test rules)', async () => {
    const result = await promtool('test', 'rules', RULE_TESTS);
    expectSuccess(result);
  });

  it('has unit tests for every rule, with firing and quiet cases for every alert', async () => {
    const tests = await readYaml<RuleTestFile>(RULE_TESTS);
    expect(tests.rule_files).toEqual(RULE_FILES.map((f) => f.replace('config/rules/', '')));
    const cases = tests.tests.flatMap((t) => t.alert_rule_test ?? []);
    const exprs = tests.tests.flatMap((t) => t.promql_expr_test ?? []);
    for (const file of RULE_FILES) {
      const { groups } = await readYaml<RuleFile>(file);
      for (const rule of groups.flatMap((g) => g.rules)) {
        if (rule.record !== undefined) {
          const record = rule.record;
          expect(
            exprs.some((e) => e.expr.includes(record) && (e.exp_samples ?? []).length > 0),
            `a promql_expr_test of ${record}`,
          ).toBe(true);
        }
        if (rule.alert !== undefined) {
          const alert = rule.alert;
          const mine = cases.filter((c) => c.alertname === alert);
          expect(
            mine.some((c) => (c.exp_alerts ?? []).length > 0),
            `a firing case of ${alert}`,
          ).toBe(true);
          expect(
            mine.some((c) => (c.exp_alerts ?? []).length === 0),
            `a quiet case of ${alert}`,
          ).toBe(true);
          expect(rule.labels?.['severity'], `severity of ${alert}`).toMatch(/^(warning|critical)$/);
          expect(Object.keys(rule.annotations ?? {}).sort(), `annotations of ${alert}`).toEqual(['description', 'summary']);
        }
      }
    }
  });
});
