// The `plugins.NAME` sections vigil itself knows the schema of: the built-in plugins whose whole
// config is their section. Registered for the config loader, so `vigil -t` reports a bad
// webhook URL or a missing cloud token with file, line and field, before anything runs.
// (Built-ins that derive their config from keepalived keywords validate at start; user
// plugins validate in their worker.)

import { schema as awsVip } from '../../plugins/aws-vip/config.ts';
import { schema as hetznerVip } from '../../plugins/hetzner-vip/config.ts';
import { tuningSchema as smtpAlert } from '../../plugins/smtp-alert/config.ts';
import { schema as webhook } from '../../plugins/webhook/config.ts';
import { PluginSectionRegistry } from '../config/plugin-sections.ts';

export function builtinSections(): PluginSectionRegistry {
  const r = new PluginSectionRegistry();
  r.register({ name: 'webhook', schema: webhook });
  r.register({ name: 'aws-vip', schema: awsVip });
  r.register({ name: 'hetzner-vip', schema: hetznerVip });
  // only its tuning: the rest comes from keepalived's keywords
  r.register({ name: 'smtp-alert', schema: smtpAlert });
  return r;
}
