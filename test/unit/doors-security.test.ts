// The daemon's doors other than plugins, seen as keepalived sees a root daemon's inputs: who,
// besides root, could change the config file and its includes, the HTTP token file, the
// control socket's directory. Real files with real owners (chown to nobody, chmod): needs root.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatDiagnostic, type Diagnostic } from '../../src/config/diagnostics.ts';
import { loadConfigFile, type LoadOptions } from '../../src/config/load.ts';

const NOBODY = 65534;
const root = process.getuid?.() === 0;
const needsRoot = root ? false : 'needs root (chown, and the owner rules apply to a root daemon)';

const top = mkdtempSync(join(tmpdir(), 'vigil-doors-'));
after(() => rmSync(top, { recursive: true, force: true }));
let n = 0;
/** A fresh directory like mkdtemp's: root's, 0700. */
function freshDir(): string {
  const d = join(top, `d${n++}`);
  mkdirSync(d, { mode: 0o700 });
  return d;
}

const host: LoadOptions = { interfaces: new Map([['eth0', ['192.0.2.1', 'fe80::1']]]), configId: 'node1' };

const MINIMAL = `vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    virtual_ipaddress {
        192.0.2.100/24
    }
}
`;

const fileWarnings = (ds: Diagnostic[]) => ds.filter((d) => d.field === 'file').map(formatDiagnostic);

describe('config file and includes: who could change them', { skip: needsRoot }, () => {
  test('root-owned 0644 files in a private directory: no warning', () => {
    const d = freshDir();
    const main = join(d, 'keepalived.conf');
    writeFileSync(main, 'include inc.conf\n', { mode: 0o644 });
    writeFileSync(join(d, 'inc.conf'), MINIMAL, { mode: 0o644 });
    const r = loadConfigFile(main, host);
    assert.deepEqual(r.diagnostics, []);
    assert.ok(r.config);
  });

  test('group-writable by the root group is fine (keepalived: a root group is root); by another group it warns', () => {
    const d = freshDir();
    const main = join(d, 'keepalived.conf');
    writeFileSync(main, MINIMAL);
    chmodSync(main, 0o664);
    assert.deepEqual(fileWarnings(loadConfigFile(main, host).diagnostics), []);
    chownSync(main, 0, NOBODY);
    assert.deepEqual(fileWarnings(loadConfigFile(main, host).diagnostics), [
      `${main}:1:1: file: warning: config file is writable by group ${NOBODY} (mode 0664): whoever can change it controls what the daemon (running as root) does; chmod go-w ${main}`,
    ]);
  });

  test('a world-writable include and a main file owned by nobody: each warned with its own name; the config still loads', () => {
    const d = freshDir();
    const main = join(d, 'keepalived.conf');
    const inc = join(d, 'inc.conf');
    writeFileSync(main, 'include inc.conf\n');
    writeFileSync(inc, MINIMAL);
    chmodSync(inc, 0o666);
    chownSync(main, NOBODY, NOBODY);
    const r = loadConfigFile(main, host);
    assert.deepEqual(fileWarnings(r.diagnostics), [
      `${main}:1:1: file: warning: config file is owned by uid ${NOBODY}, not root: whoever can change it controls what the daemon (running as root) does; chown root ${main}`,
      `${inc}:1:1: file: warning: config file is writable by others (mode 0666): whoever can change it controls what the daemon (running as root) does; chmod go-w ${inc}`,
    ]);
    assert.ok(r.config, 'warnings, not errors: the config is used');
  });

  test('a directory others can write to (no sticky bit), or owned by nobody: warned once for all its files; a sticky one is fine', () => {
    const d = freshDir();
    const main = join(d, 'keepalived.conf');
    writeFileSync(main, 'include a.conf\ninclude b.conf\n');
    writeFileSync(join(d, 'a.conf'), MINIMAL);
    writeFileSync(join(d, 'b.conf'), '');
    chmodSync(d, 0o777);
    assert.deepEqual(fileWarnings(loadConfigFile(main, host).diagnostics), [
      `${main}:1:1: file: warning: directory ${d}, which holds this config file, is writable by others (mode 0777) without the sticky bit: whoever can change it can replace the file; make it root's and not writable by others`,
    ]);
    chmodSync(d, 0o1777);
    assert.deepEqual(fileWarnings(loadConfigFile(main, host).diagnostics), []);
    chmodSync(d, 0o755);
    chownSync(d, NOBODY, NOBODY);
    assert.deepEqual(fileWarnings(loadConfigFile(main, host).diagnostics), [
      `${main}:1:1: file: warning: directory ${d}, which holds this config file, is owned by uid ${NOBODY}: whoever can change it can replace the file; make it root's and not writable by others`,
    ]);
  });

  test('an include in another, unsafe directory names that directory, at the include', () => {
    const d = freshDir();
    const other = freshDir();
    chmodSync(other, 0o777);
    const main = join(d, 'keepalived.conf');
    writeFileSync(main, `include ${other}/*.conf\n`);
    writeFileSync(join(other, 'x.conf'), MINIMAL);
    assert.deepEqual(fileWarnings(loadConfigFile(main, host).diagnostics), [
      `${join(other, 'x.conf')}:1:1: file: warning: directory ${other}, which holds this config file, is writable by others (mode 0777) without the sticky bit: whoever can change it can replace the file; make it root's and not writable by others`,
    ]);
  });

  test('YAML too; vigil -t prints the warnings with the file name and still exits 0', () => {
    const d = freshDir();
    const file = join(d, 'vigil.yaml');
    writeFileSync(file, 'vrrp_instance:\n  VI_1:\n    interface: lo\n    virtual_router_id: 51\n    virtual_ipaddress:\n      - address: 192.0.2.100/24\n');
    chmodSync(file, 0o646);
    const bin = new URL('../../bin/vigil', import.meta.url).pathname;
    const r = spawnSync(bin, ['-t', '-f', file], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.ok(r.stderr.includes(`${file}:1:1: file: warning: config file is writable by others (mode 0646): whoever can change it controls what the daemon (running as root) does; chmod go-w ${file}`), r.stderr);
  });
});
