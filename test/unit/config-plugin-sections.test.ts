// The built-ins' sections made by the config loader from keepalived keywords
// (src/config/plugin-sections/), validated with the plugins' schemas (src/plugins/sections.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { configSchema as awsVip } from '../../plugins/aws-vip/config.ts';
import { formatDiagnostic } from '../../src/config/diagnostics.ts';
import { loadConfigText, type LoadOptions } from '../../src/config/load.ts';
import { builtinSections } from '../../src/plugins/sections.ts';

const opts: LoadOptions = { interfaces: new Map([['eth0', ['192.0.2.1']]]), configId: 'node1', plugins: builtinSections() };
const INSTANCE = 'vrrp_instance:\n  VI_1:\n    interface: eth0\n    virtual_router_id: 5\n    virtual_ipaddress: [{ address: 192.0.2.100 }]\n    notify_master: /bin/true\n';

test('a derived section: the keywords make it, the user section tunes it, a bad tuning is an error at its place', () => {
  const ok = loadConfigText(INSTANCE + 'plugins:\n  notify-script:\n    timeout: 5\n', 'n.yaml', opts);
  assert.deepEqual(ok.diagnostics, []);
  assert.deepEqual(ok.config?.plugins['notify-script'], { timeout: 5, enable_script_security: false, instances: { VI_1: { master: { line: '/bin/true' } } }, groups: {} });
  assert.deepEqual(ok.pluginsAsWritten, { 'notify-script': { timeout: 5 } });
  const bad = loadConfigText(INSTANCE + 'plugins:\n  notify-script:\n    timeout: -1\n    instances: {}\n', 'n.yaml', opts);
  assert.equal(bad.config, null);
  assert.deepEqual(bad.diagnostics.map(formatDiagnostic), [
    "n.yaml:10:16: plugins.notify-script.instances: warning: ignored: notify-script's config is made from the notify scripts of vrrp_instance, vrrp_sync_group, virtual_server and real_server; this section may set only timeout, stop_timeout",
    'n.yaml:9:14: plugins.notify-script.timeout: Too small: expected number to be >0',
  ]);
});

test('a user section a derivation does not use is a warning, and the plugin does not run', () => {
  const r = loadConfigText('plugins:\n  smtp-alert:\n    starttls: true\n', 's.yaml', opts);
  assert.deepEqual(r.diagnostics.map(formatDiagnostic), [
    "s.yaml:3:5: plugins.smtp-alert: warning: not used: smtp-alert runs when the config has global_defs' notification_email and smtp_server, and smtp_alert, and this one has none",
  ]);
  assert.equal(r.config?.plugins['smtp-alert'], undefined);
});

test('a written section stays as written: the plugin parses it (aws-vip transforms, and refused its own output)', () => {
  const r = loadConfigText('plugins:\n  aws-vip:\n    region: us-east-1\n    instances:\n      VI_1: { network_interface_id: eni-0a, private_ip: 10.0.0.5 }\n', 'a.yaml', opts);
  assert.deepEqual(r.diagnostics, []);
  assert.deepEqual(awsVip.parse(r.config?.plugins['aws-vip']).instances.VI_1?.private_ips, ['10.0.0.5']);
});
