// scripts/install.sh: --dry-run changes nothing and shows every step; a staged install
// (--destdir) lays out code, command symlink, unit and a 0600 example config; a second run
// updates the code and keeps the operator's config; the installed copy runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const script = join(root, 'scripts/install.sh');

test('install.sh --dry-run prints the steps and touches nothing', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-install-'));
  try {
    const out = execFileSync('sh', [script, '--dry-run', '--destdir', dir, '--prefix', '/opt/vigil-test'], { encoding: 'utf8' });
    assert.match(out, /^\+ cp -R .*\/src \S+\/opt\/vigil-test\/src$/m);
    assert.match(out, /^\+ sh -c cd '\S+\/opt\/vigil-test' && npm ci --omit=dev/m);
    assert.match(out, /^\+ ln -sfn \/opt\/vigil-test\/bin\/vigil \S+\/usr\/local\/bin\/vigil$/m);
    assert.match(out, /vigil\.service > \S+\/etc\/systemd\/system\/vigil\.service$/m);
    assert.match(out, /^\+ install -m 0600 \S+\/config\/example\.yaml \S+\/etc\/vigil\/vigil\.yaml$/m);
    assert.doesNotMatch(out, /systemctl/, 'a staged install never calls systemctl');
    assert.deepEqual(execFileSync('find', [dir, '-mindepth', '1'], { encoding: 'utf8' }), '', 'nothing written');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('install.sh into a staging root: layout, idempotence, the config kept, the copy runs', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-install-'));
  try {
    const install = () => execFileSync('sh', [script, '--destdir', dir, '--no-deps'], { encoding: 'utf8' });
    const first = install();
    assert.match(first, /config: example -> /);
    const app = join(dir, 'opt/vigil');
    for (const f of ['bin/vigil', 'src/cli/main.ts', 'src/daemon/supervisor.ts', 'plugins', 'package.json', 'package-lock.json', 'contrib/systemd/vigil.service']) {
      assert.ok(existsSync(join(app, f)), f);
    }
    assert.ok(!existsSync(join(app, 'test')) && !existsSync(join(app, 'node_modules')) && !existsSync(join(app, '.git')));
    const link = join(dir, 'usr/local/bin/vigil');
    assert.ok(lstatSync(link).isSymbolicLink());
    assert.equal(readlinkSync(link), '/opt/vigil/bin/vigil');
    const unit = readFileSync(join(dir, 'etc/systemd/system/vigil.service'), 'utf8');
    assert.match(unit, /^Type=notify$/m);
    assert.match(unit, /^ExecStart=\/usr\/local\/bin\/vigil -n -f \/etc\/vigil\/vigil\.yaml$/m);
    assert.match(unit, /^ExecReload=\/bin\/kill -HUP \$MAINPID$/m);
    const conf = join(dir, 'etc/vigil/vigil.yaml');
    assert.equal(statSync(conf).mode & 0o777, 0o600);

    // the operator edits the config, a stale file sits in the code: a second run keeps the one
    // and drops the other
    writeFileSync(conf, '# mine\n');
    writeFileSync(join(app, 'src/stale.ts'), '');
    const second = install();
    assert.match(second, /has one; kept/);
    assert.equal(readFileSync(conf, 'utf8'), '# mine\n');
    assert.ok(!existsSync(join(app, 'src/stale.ts')));

    // the installed copy runs (dependencies lent from this checkout, as --no-deps expects) and
    // accepts the example config it installed
    symlinkSync(join(root, 'node_modules'), join(app, 'node_modules'));
    assert.match(execFileSync(process.execPath, [join(app, 'bin/vigil'), '-v'], { encoding: 'utf8' }), /^vigil \d/);
    const check = spawnSync(process.execPath, [join(app, 'bin/vigil'), '-t', '-f', join(app, 'config/example.yaml')], { encoding: 'utf8' });
    assert.equal(check.status, 0, check.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('install.sh refuses nonsense', () => {
  const r = spawnSync('sh', [script, '--bogus'], { encoding: 'utf8' });
  assert.equal(r.status, 2);
  const rel = spawnSync('sh', [script, '--dry-run', '--prefix', 'relative'], { encoding: 'utf8' });
  assert.equal(rel.status, 2);
  assert.match(rel.stderr, /must be absolute/);
});
