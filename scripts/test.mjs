#!/usr/bin/env node
// The project's one test command (`npm test`): type-check, lint, build, then every test file
// under test/ through node's own test runner (via tsx, so .ts runs without a build step; the
// build is there for the tests that run bin/vigil, which runs dist/).
// Node 20's `--test` does not expand globs, so the files are listed here.
//
//   node scripts/test.mjs                 everything (CI runs this, as root)
//   node scripts/test.mjs --only unit,sim only those folders of test/
//   node scripts/test.mjs --no-check      skip tsc and eslint (quick local loops)
//   node scripts/test.mjs --check-machine only say whether this machine has what the suite needs
//
// With CI set (CI=true, as CI services set it) it first checks that it runs as root with every
// tool the suite needs, and exits 1 naming what is missing: a CI job that lost root or a
// package must go red, not report the namespace, interop and fault tests as skipped and exit 0.
// Without CI those tests skip with their reasons (test/lib/require.ts), for laptops.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, readdirSync, statSync } from 'node:fs';
import { delimiter, isAbsolute, join, relative } from 'node:path';
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

// What the whole suite needs of the machine, the tests' needs(...) together; what is not root or
// the user nobody is a command on PATH (as the tests spawn it) or a file at a fixed path.
// scripts/install-test-deps.sh installs these; its wrk and haproxy are the benchmark's only.
const SUITE_NEEDS = [
  'root', // network namespaces, nftables, chown, scripts run as other users
  'user:nobody', // scripts and plugins run as another user
  'ip', 'tc', 'sysctl', // iproute2, procps: the labs' namespaces, links, netem
  'nft', // nftables: the load balancer's data plane, the fault and checker labs' filters
  'keepalived', '/usr/sbin/keepalived', // the interop peer, keepalived -t's messages
  'tcpdump', // wire captures
  'python3', // the sd_notify and syslog receivers
  'openssl', // certificates for SSL_GET and genhash -S
  'unshare', 'nsenter', // util-linux: pid-discovery's private mount and network namespace
  '/usr/bin/chromium', // the status page, driven by playwright-core
  '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1', // wall-clock jumps in the fault suite
  '/usr/bin/curl', '/usr/bin/logger', // the example configs' check and notify script (-t is clean)
  'etcd', 'etcdctl', // etcd-server, etcd-client: the election lab's three-member cluster
];

/** CI=true, 1, or any other value but false/0, as test/lib/require.ts's isCi reads it. */
function isCi() {
  const v = process.env.CI?.trim().toLowerCase();
  return !!v && v !== 'false' && v !== '0';
}

function onPath(name) {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => {
    if (!dir) return false;
    try {
      accessSync(join(dir, name), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** The suite's requirements this machine lacks, in words (test/lib/require.ts's words). */
function missing() {
  return SUITE_NEEDS.flatMap((r) => {
    if (r === 'root') return process.getuid?.() === 0 ? [] : ['root'];
    if (r.startsWith('user:')) return spawnSync('getent', ['passwd', r.slice(5)]).status === 0 ? [] : [`the user ${r.slice(5)}`];
    if (isAbsolute(r)) return existsSync(r) ? [] : [r];
    return onPath(r) ? [] : [`${r} on PATH`];
  });
}

const lack = missing();
if (args.includes('--check-machine')) {
  console.log(lack.length === 0 ? 'this machine has everything the test suite needs' : `the test suite needs ${lack.join(', ')}`);
  process.exit(lack.length === 0 ? 0 : 1);
}
if (lack.length > 0 && isCi()) {
  console.error(`CI is set and the test suite needs ${lack.join(', ')}.`);
  console.error('CI must run scripts/install-test-deps.sh and then the tests as root; without CI the tests that need these are skipped.');
  process.exit(1);
}
if (lack.length > 0) console.log(`not CI: the tests that need ${lack.join(', ')} will be skipped (CI=true makes that a failure)`);

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
// the tests that start bin/vigil start dist/vigil.mjs: build what is being tested (--no-check too)
if (existsSync(join(root, 'scripts/build.mjs'))) run(process.execPath, ['scripts/build.mjs']);

const testRoot = join(root, 'test');
const dirs = readdirSync(testRoot).filter((d) => statSync(join(testRoot, d)).isDirectory());
const files = dirs.filter((d) => !only || only.includes(d)).flatMap((d) => findTests(join(testRoot, d)));
if (files.length === 0) {
  console.error('no test files found');
  process.exit(1);
}
run(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', ...files]);
