// Lints the map page's JavaScript (web/static): browser ES modules, MapLibre as a global.
import js from '@eslint/js';
import globals from 'globals';

export default [
  js.configs.recommended,
  {
    files: ['web/static/**/*.js'],
    languageOptions: {
      ecmaVersion: 2023,
      sourceType: 'module',
      globals: { ...globals.browser, maplibregl: 'readonly' },
    },
    rules: {
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
];
