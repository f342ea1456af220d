// @ts-check
import js from '@eslint/js'
import globals from 'globals'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', 'data/**', 'bench/results/**', 'test-output/**', 'examples/**/build/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: { ...globals.node },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': ['error', { allow: ['warn', 'error'] }],
    },
  },
  {
    // TypeScript already checks identifiers; no-undef only misfires on types and DOM names there.
    files: ['**/*.ts'],
    rules: { 'no-undef': 'off' },
  },
  {
    // Code that runs in browsers: the SDK, the demo pages, browser-test fixtures.
    files: ['client-sdk/src/**', 'examples/**/web/**', 'examples/**/public/**', 'examples/**/src/**', 'tests/e2e/**/fixtures/**'],
    languageOptions: { globals: { ...globals.browser } },
  },
  {
    files: ['tests/**', 'bench/**', 'examples/**', 'server/src/main.ts', 'server/bin/**'],
    rules: { 'no-console': 'off' },
  },
)
