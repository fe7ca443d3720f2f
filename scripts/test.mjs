#!/usr/bin/env node
// The project's one test command (`npm test`): type-check, lint, then every test file under
// test/ through node's own test runner (via tsx, so .ts runs without a build step).
// Node 20's `--test` does not expand globs, so the files are listed here.
//
//   node scripts/test.mjs                 everything (CI runs this, as root)
//   node scripts/test.mjs --only unit,sim only those folders of test/
//   node scripts/test.mjs --no-check      skip tsc and eslint (quick local loops)
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const onlyIdx = args.indexOf('--only');
const only = onlyIdx >= 0 ? args[onlyIdx + 1].split(',') : null;
const check = !args.includes('--no-check');

function run(cmd, cmdArgs) {
  console.log(`\n$ ${cmd} ${cmdArgs.join(' ')}`);
  const r = spawnSync(cmd, cmdArgs, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`\n${cmd} failed (exit ${r.status ?? r.signal})`);
    process.exit(r.status || 1);
  }
}

function findTests(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...findTests(p));
    else if (name.endsWith('.test.ts')) out.push(relative(root, p));
  }
  return out;
}

if (check) {
  run('npx', ['tsc', '--noEmit', '-p', '.']);
  run('npx', ['eslint', '.']);
}

const testRoot = join(root, 'test');
const dirs = readdirSync(testRoot).filter((d) => statSync(join(testRoot, d)).isDirectory());
const files = dirs.filter((d) => !only || only.includes(d)).flatMap((d) => findTests(join(testRoot, d)));
if (files.length === 0) {
  console.error('no test files found');
  process.exit(1);
}
run(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', ...files]);
