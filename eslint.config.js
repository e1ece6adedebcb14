// @ts-check
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

export default defineConfig(
  { ignores: ['dist/', 'node_modules/', 'coverage/', 'bin/', '.testenv/'] },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ['eslint.config.js'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      // A floating promise in a controller is a lost error or an unordered write.
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-empty': ['error', { allowEmptyCatch: false }],
      '@typescript-eslint/no-confusing-void-expression': 'off',
    },
  },
  {
    // Test support lives in testing/ folders beside the code and doc generators in src/gen/; neither
    // may reach the controller (tsconfig.build.json leaves both out of dist/, src/imports.test.ts
    // walks the runtime graph). Tests, test support and the generators themselves may import them.
    files: ['src/**/*.ts'],
    ignores: ['src/**/*.test.ts', 'src/**/testing/**', 'src/gen/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['**/testing/**'], message: 'test support (testing/ folders) is for tests only' },
            {
              group: ['**/gen/**'],
              message: 'src/gen/ (doc generators) is for scripts/gen.ts, scripts/chart.ts and tests only',
            },
          ],
          paths: [
            {
              name: '@kubernetes/client-node',
              message:
                'a devDependency (bench only): its index loads ~90 MiB of generated code; use src/kube/http.ts (docs/benchmarks.md, issue 14)',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['**/*.test.ts', 'test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
);
