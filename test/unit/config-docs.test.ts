import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Type } from '@sinclair/typebox';
import { parseConfig } from '../../src/config/load.js';
import { DOC_PATH, extractGeneratedBlock, listConfigFields, renderConfigTable, replaceGeneratedBlock } from '../../scripts/config-docs.js';

const doc = readFileSync(DOC_PATH, 'utf8');

describe('docs/configuration.md', () => {
  it('holds the reference table generated from the schema (else run npx tsx scripts/config-docs.ts)', () => {
    const committed = extractGeneratedBlock(doc);
    expect(committed, 'docs/configuration.md lacks the markers of the generated table').toBeDefined();
    expect(committed).toBe(renderConfigTable());
  });

  it('has exactly one row per field of the schema, each with a description', () => {
    const fields = listConfigFields();
    const rows = (extractGeneratedBlock(doc) ?? '').split('\n').filter((line) => line.startsWith('| `'));
    expect(rows.map((row) => /^\| `([^`]+)`/.exec(row)?.[1])).toEqual(fields.map((f) => f.key));
    for (const field of fields) expect(field.description.length, field.key).toBeGreaterThan(10);
    expect(fields.map((f) => f.key)).toEqual(
      expect.arrayContaining(['listen', 'shards[].replicas', 'write.ack', 'redis.keyPrefix', 'reconcile.expire[].maxAgeSeconds']),
    );
  });

  it('every YAML example in it is a valid configuration', () => {
    const examples = [...doc.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
    expect(examples.length).toBeGreaterThan(0);
    for (const example of examples) {
      const result = parseConfig(example);
      expect(result.ok ? [] : result.problems, example).toEqual([]);
    }
  });
});

describe('the table generator', () => {
  it('refuses a field without a description, naming it', () => {
    const schema = Type.Object({
      ok: Type.String({ description: 'documented' }),
      section: Type.Object({ bare: Type.Integer() }, { description: 'a section' }),
    });
    expect(() => renderConfigTable(schema)).toThrow('section.bare has no description');
  });

  it('renders types, defaults and required-ness from the schema, and escapes pipes', () => {
    const schema = Type.Object({
      mode: Type.Union([Type.Literal('a'), Type.Literal('b')], { default: 'a', description: 'a | b' }),
      size: Type.Integer({ minimum: 1, maximum: 9, description: 'how many' }),
      name: Type.Optional(Type.String({ description: 'what it is called' })),
    });
    expect(renderConfigTable(schema).split('\n').slice(2, 5)).toEqual([
      '| `mode` | `a` or `b` | `a` | a \\| b |',
      '| `size` | integer 1–9 | required | how many |',
      '| `name` | string | absent | what it is called |',
    ]);
  });

  it('rewrites only what lies between the markers', () => {
    const before = extractGeneratedBlock(doc);
    const rewritten = replaceGeneratedBlock(doc, 'TABLE\n');
    expect(extractGeneratedBlock(rewritten)).toBe('TABLE\n');
    expect(replaceGeneratedBlock(rewritten, before ?? '')).toBe(doc);
  });
});

describe('the links of README.md and docs/', () => {
  const root = new URL('../../', import.meta.url);
  const files = [
    'README.md',
    ...readdirSync(new URL('docs/', root))
      .filter((f) => f.endsWith('.md'))
      .map((f) => `docs/${f}`),
  ];
  const slugsOf = (markdown: string): Set<string> =>
    new Set(
      [...markdown.matchAll(/^#+ (.+)$/gm)].map((m) =>
        (m[1] ?? '')
          .toLowerCase()
          .replace(/[^\p{L}\p{N}\s_-]/gu, '')
          .replace(/\s/g, '-'),
      ),
    );

  it.each(files)('every relative link of %s reaches a file (and heading) inside the repository', (file) => {
    const text = readFileSync(new URL(file, root), 'utf8');
    const links = [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1] ?? '').filter((l) => !/^[a-z]+:/.test(l));
    for (const link of links) {
      const [target = '', anchor] = link.split('#');
      const url = target === '' ? new URL(file, root) : new URL(target, new URL(file, root));
      expect(url.href.startsWith(root.href), `${file}: ${link} leaves the repository`).toBe(true);
      expect(existsSync(url), `${file}: ${link} does not exist`).toBe(true);
      if (anchor !== undefined) expect(slugsOf(readFileSync(url, 'utf8')).has(anchor), `${file}: ${link} names no heading`).toBe(true);
    }
  });
});
