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
import { configSchema } from '../../src/config/schema.ts';
import { readTokenFile } from '../../src/control/http.ts';
import { needs } from '../lib/require.ts';

const NOBODY = 65534;
const needsRoot = needs('root'); // chown, and the owner rules apply to a root daemon

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

describe('config file and includes: who could change them', { ...needsRoot }, () => {
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

describe('the HTTP listener\'s token', { ...needsRoot }, () => {
  const SECRET = 'tok-' + 'z'.repeat(24);

  test('token_file: 0600 and root\'s is read (one trailing newline dropped); group or other bits, another owner, an open directory, or not a token: refused, never quoting the file', () => {
    const d = freshDir();
    const file = join(d, 'http.token');
    writeFileSync(file, SECRET + '\n', { mode: 0o600 });
    assert.deepEqual(readTokenFile(file), { ok: true, token: SECRET });
    const refused = (): string => {
      const r = readTokenFile(file);
      assert.equal(r.ok, false);
      const error = (r as { error: string }).error;
      assert.ok(!error.includes(SECRET), 'the secret is not in the error');
      return error;
    };
    chmodSync(file, 0o640);
    assert.equal(refused(), `token file ${file} is readable or writable by its group (mode 0640); chmod 600 ${file}`);
    chmodSync(file, 0o620);
    assert.equal(refused(), `token file ${file} is readable or writable by its group (mode 0620); chmod 600 ${file}`);
    chmodSync(file, 0o604);
    assert.equal(refused(), `token file ${file} is readable or writable by others (mode 0604); chmod 600 ${file}`);
    chmodSync(file, 0o600);
    chownSync(file, NOBODY, NOBODY);
    assert.equal(refused(), `token file ${file} is owned by uid ${NOBODY}, not root; chown root ${file}`);
    chownSync(file, 0, 0);
    chmodSync(d, 0o777);
    assert.equal(refused(), `token file ${file}: ${d} is writable by others (mode 0777) without the sticky bit, so others could put a token of their own in its place; keep it in a directory only root can write to`);
    chmodSync(d, 0o700);
    writeFileSync(file, `${SECRET} ${SECRET}\n`);
    assert.equal(refused(), `token file ${file} must hold one token (no blanks), and nothing else`);
    assert.equal(readTokenFile(join(d, 'missing')).ok, false);
    assert.equal(configSchema.safeParse({ control: { http: { token: SECRET, token_file: file } } }).success, false, 'one or the other');
  });

  test('an inline token in a YAML file others (or a non-root group) can read: a warning at the token, without the token; 0600: none', () => {
    const d = freshDir();
    const file = join(d, 'vigil.yaml');
    writeFileSync(file, `vrrp_instance:\n  VI_1:\n    interface: lo\n    virtual_router_id: 51\n    virtual_ipaddress:\n      - address: 192.0.2.100/24\ncontrol:\n  http:\n    listen: 127.0.0.1:9650\n    token: ${SECRET}\n`, { mode: 0o644 });
    const warned = () => loadConfigFile(file, host).diagnostics.filter((x) => x.field === 'control.http.token').map(formatDiagnostic);
    const want = (mode: string, who = 'others') => [
      `${file}:10:12: control.http.token: warning: the token is in a file ${who} can read (mode ${mode}): chmod 600 ${file}, or move it to a file of its own (control.http.token_file, mode 0600)`,
    ];
    assert.deepEqual(warned(), want('0644'));
    chmodSync(file, 0o640);
    assert.deepEqual(warned(), [], 'the root group may read');
    chownSync(file, 0, NOBODY);
    assert.deepEqual(warned(), want('0640', `group ${NOBODY}`));
    chmodSync(file, 0o600);
    assert.deepEqual(warned(), []);
    assert.ok(loadConfigFile(file, host).config, 'a warning: the config loads');
  });
});
