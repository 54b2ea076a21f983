import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/'] },
  js.configs.recommended,
  // Type-aware: a promise nobody awaits or catches (no-floating-promises), or one handed where a
  // plain callback is expected (no-misused-promises), is how a failure goes unseen.
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly' },
      parserOptions: { projectService: { allowDefaultProject: ['eslint.config.js', 'bin/*.js'] }, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      // Memory implementations of async store interfaces are `async` without awaiting anything:
      // they keep the interface's contract (errors as rejections, never a synchronous throw).
      '@typescript-eslint/require-await': 'off',
      'no-restricted-imports': 'off',
    },
  },
  {
    // Plain JavaScript: the bin imports the build output (dist/), absent before `npm run build`.
    files: ['**/*.js'],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    // The page at `/` (static/page/): plain ES modules run by the browser as they are.
    files: ['static/**/*.js'],
    languageOptions: {
      globals: {
        window: 'readonly',
        document: 'readonly',
        fetch: 'readonly',
        sessionStorage: 'readonly',
        URLSearchParams: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        TextEncoder: 'readonly',
        btoa: 'readonly',
        confirm: 'readonly',
        location: 'readonly',
        console: 'readonly',
        Node: 'readonly',
      },
    },
  },
  {
    // vitest's asymmetric matchers (expect.stringContaining…) are typed `any`, and tests read
    // JSON of the Pushgateway's API loosely on purpose.
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-base-to-string': 'off',
    },
  },
  {
    // The pure core must stay free of I/O: nothing here may reach a socket, a file or a process.
    files: ['src/core/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: ['node:fs*', 'node:net', 'node:http*', 'node:child_process', 'fastify*', 'undici', 'ioredis', '../backends/*', '../write/*', '../http/*'],
        },
      ],
    },
  },
);
