// The daemon's life: load the config, write the pid file, start the engine, and answer
// keepalived's signals: SIGTERM / SIGINT stop cleanly (priority-0 adverts, addresses removed),
// SIGHUP re-reads the config (a config that fails validation changes nothing).

import { rmSync, writeFileSync } from 'node:fs';
import { formatDiagnostic, hasErrors } from '../config/diagnostics.ts';
import { loadConfigFile } from '../config/load.ts';
import { Engine } from './engine.ts';
import { createLogger } from './log.ts';

export interface DaemonOptions {
  file: string;
  configId?: string | undefined;
  pidFile?: string | undefined;
  detail: boolean;
}

export async function runDaemon(opts: DaemonOptions): Promise<number> {
  const log = createLogger({ detail: opts.detail });
  const load = () => loadConfigFile(opts.file, opts.configId ? { configId: opts.configId } : {});
  const first = load();
  for (const d of first.diagnostics) log[d.severity === 'error' ? 'error' : 'warn'](formatDiagnostic(d));
  if (!first.config) return 1;
  if (opts.pidFile) writeFileSync(opts.pidFile, `${process.pid}\n`);
  const engine = new Engine(first.config, log);
  log.info(`starting with ${Object.keys(first.config.vrrp_instance).length} instance(s) from ${opts.file}`);
  await engine.start();

  return await new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info(`${signal}: stopping`);
      engine
        .stop()
        .catch((e: Error) => log.error(`stop: ${e.message}`))
        .finally(() => {
          if (opts.pidFile) rmSync(opts.pidFile, { force: true });
          log.info('stopped');
          resolve(0);
        });
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGHUP', () => {
      const next = load();
      for (const d of next.diagnostics) log[d.severity === 'error' ? 'error' : 'warn'](formatDiagnostic(d));
      if (!next.config || hasErrors(next.diagnostics)) {
        log.error('reload rejected; the running configuration stays');
        return;
      }
      engine
        .reload(next.config)
        .then((changed) => log.info(`reloaded; restarted: ${changed.join(', ') || 'none'}`))
        .catch((e: Error) => log.error(`reload: ${e.message}`));
    });
  });
}
