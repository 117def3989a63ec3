// Lints the map page's JavaScript (web/static) and the field app's (web/field): browser ES
// modules, MapLibre as a global; the field app's service worker as a worker script.
import js from '@eslint/js';
import globals from 'globals';
import escapedHtml from './eslint-rules/escaped-html.mjs';

export default [
  js.configs.recommended,
  {
    files: ['web/static/**/*.js', 'web/field/**/*.js'],
    languageOptions: {
      ecmaVersion: 2023,
      sourceType: 'module',
      globals: { ...globals.browser, maplibregl: 'readonly' },
    },
    plugins: { redgrid: { rules: { 'escaped-html': escapedHtml } } },
    rules: {
      'redgrid/escaped-html': 'error',
      'no-unused-vars': ['error', { args: 'after-used', argsIgnorePattern: '^_' }],
      'no-implicit-globals': 'error',
      'no-restricted-syntax': ['error', {
        selector: "CallExpression[callee.property.name='dispatchEvent']",
        message: 'Modules talk through imports and the callbacks they are given.',
      }],
      eqeqeq: ['error', 'always', { null: 'ignore' }],
      'prefer-const': 'error',
    },
  },
  {
    files: ['web/field/sw.js'],
    languageOptions: { sourceType: 'script', globals: { ...globals.serviceworker } },
    // A classic worker script (module workers are not everywhere yet) has a global scope of its own.
    rules: { 'no-implicit-globals': 'off' },
  },
];
