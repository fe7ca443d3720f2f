// Lint rules: typescript-eslint's recommended set, type-aware where it catches real bugs
// (floating promises in the daemon are lost errors at 3 a.m.), and the built-in plugins' one
// door into vigil (vigil/plugin-imports below).
import js from '@eslint/js';
import { isBuiltin } from 'node:module';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import tseslint from 'typescript-eslint';

const PLUGINS_DIR = resolve(import.meta.dirname, 'plugins');

/** The built-ins are plugins like a user's (issue 13, DESIGN.md: no private door): a file under
 * plugins/NAME/ imports vigil only as 'vigil/plugin' (what it needs beyond that is exported
 * there for everyone, src/plugins/sdk-helpers.ts), node's modules, npm packages, files of its
 * own folder, and plugins/_shared/. A relative import is resolved against the file, so no
 * spelling of a path into src/ or into another plugin's folder gets through. */
const pluginImports = {
  meta: {
    type: 'problem',
    docs: { description: "plugins import vigil only through the public plugin API, 'vigil/plugin'" },
    schema: [],
    messages: {
      internal: "'{{source}}' is vigil's internal code: plugins import vigil only from 'vigil/plugin' (what they need and is missing there is exported from src/plugins/sdk-helpers.ts, for every plugin)",
      otherPlugin: "'{{source}}' is another plugin's file: import from 'vigil/plugin', or move the shared code to plugins/_shared/",
      vigil: "'{{source}}' is not vigil's public API: import from 'vigil/plugin'",
    },
  },
  create(context) {
    const file = context.filename;
    const own = relative(PLUGINS_DIR, file).split(sep)[0];
    const check = (node, source) => {
      if (typeof source !== 'string') return;
      if (source === 'vigil/plugin' || isBuiltin(source)) return;
      if (source === 'vigil' || source.startsWith('vigil/')) {
        context.report({ node, messageId: 'vigil', data: { source } });
        return;
      }
      if (!source.startsWith('.') && !isAbsolute(source)) return; // an npm package
      const target = relative(PLUGINS_DIR, resolve(dirname(file), source));
      const folder = target.split(sep)[0];
      if (target.startsWith('..') || isAbsolute(target) || !target.includes(sep)) {
        context.report({ node, messageId: 'internal', data: { source } });
      } else if (folder !== own && folder !== '_shared') {
        context.report({ node, messageId: 'otherPlugin', data: { source } });
      }
    };
    const fromSource = (node) => check(node.source, node.source?.value);
    return {
      ImportDeclaration: fromSource,
      ExportAllDeclaration: fromSource,
      ExportNamedDeclaration: fromSource,
      ImportExpression: (node) => check(node.source, node.source.type === 'Literal' ? node.source.value : undefined),
      TSImportType: (node) => check(node.argument, node.argument.type === 'TSLiteralType' ? node.argument.literal.value : undefined),
      TSExternalModuleReference: (node) => check(node.expression, node.expression.value),
    };
  },
};

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', 'dist.*.tmp/**', 'test/vectors/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          // node:test's test()/describe() return promises the runner itself awaits.
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['test', 'it', 'describe', 'suite'] },
          ],
        },
      ],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    files: ['plugins/**/*.{ts,mts,js,mjs}'],
    plugins: { vigil: { rules: { 'plugin-imports': pluginImports } } },
    rules: { 'vigil/plugin-imports': 'error' },
  },
  {
    // the config layer knows keepalived's keywords, not plugins: plugins register their schemas
    // with it (src/plugins/sections.ts), never the other way round
    files: ['src/config/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ regex: '^(\\.\\./)+(src/)?plugins/', message: 'src/config imports no plugin code: register what it needs through the PluginSectionRegistry (src/config/plugin-sections.ts).' }] },
      ],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs', 'bin/vigil'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly', setInterval: 'readonly', setTimeout: 'readonly' } },
  },
);
