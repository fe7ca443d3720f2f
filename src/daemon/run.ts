// The daemon's life: load the config, write the pid file, start the plugins and the engine, and
// answer keepalived's signals: SIGTERM / SIGINT stop cleanly (priority-0 adverts, addresses
// removed, notify_stop scripts run), SIGHUP re-reads the config. The config file and the user
// plugins directory are also watched: an edit reloads without a signal.
//
// A reload that fails validation changes nothing (config.rejected on the bus, errors in the
// log); one that passes is applied as a diff (config.reloaded says what moved).

import { rmSync, writeFileSync } from 'node:fs';
import { basename, extname, relative, resolve } from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import { EventBus } from '../bus/bus.ts';
import { formatDiagnostic, hasErrors } from '../config/diagnostics.ts';
import { loadConfigFile } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { PluginHost } from '../plugins/host.ts';
import { instanceInfos, pluginSpecs, userPluginFiles } from '../plugins/loader.ts';
import { Engine } from './engine.ts';
import { createLogger, type Logger } from './log.ts';

export interface DaemonOptions {
  file: string;
  configId?: string | undefined;
  pidFile?: string | undefined;
  detail: boolean;
  /** Watch the config file and plugins directory (default on). */
  watch?: boolean;
}

export async function runDaemon(opts: DaemonOptions): Promise<number> {
  const log = createLogger({ detail: opts.detail });
  const load = () => loadConfigFile(opts.file, opts.configId ? { configId: opts.configId } : {});
  const first = load();
  for (const d of first.diagnostics) log[d.severity === 'error' ? 'error' : 'warn'](formatDiagnostic(d));
  if (!first.config) return 1;
  let config: Config = first.config;
  if (opts.pidFile) writeFileSync(opts.pidFile, `${process.pid}\n`);

  const bus = new EventBus(undefined, (e) => log.error(`event subscriber: ${(e as Error).message}`));
  const engine = new Engine(config, log, bus);
  const host = new PluginHost({
    bus,
    log,
    onAdjust: (plugin, instance, source, weight) => engine.adjust(plugin, instance, source, weight),
    onFault: (plugin, instance, source, active) => engine.setFault(plugin, instance, source, active),
    onRemoved: (plugin) => engine.forgetPlugin(plugin),
    currentStates: () => engine.states(),
  });
  const specs = await pluginSpecs(config);
  host.apply(specs, instanceInfos(config), config.plugins);
  // Trackers report their first state in setup: waiting for it (bounded) lets an instance
  // start as its health checks say (an init_fail script holds it in FAULT from the start).
  if (specs.length > 0) await host.ready(5000);
  log.info(`starting with ${Object.keys(config.vrrp_instance).length} instance(s) from ${opts.file}`);
  await engine.start();

  const reload = async (why: string) => {
    const next = load();
    for (const d of next.diagnostics) log[d.severity === 'error' ? 'error' : 'warn'](formatDiagnostic(d));
    if (!next.config || hasErrors(next.diagnostics)) {
      log.error(`${why}: reload rejected; the running configuration stays`);
      bus.publish({ type: 'config.rejected', file: opts.file, errors: next.diagnostics.filter((d) => d.severity === 'error').map(formatDiagnostic) });
      return;
    }
    config = next.config;
    const diff = await engine.reload(config);
    const plugins = host.apply(await pluginSpecs(config), instanceInfos(config), config.plugins);
    log.info(
      `${why}: reloaded; unchanged: ${diff.unchanged.join(', ') || '-'}; updated: ${diff.updated.join(', ') || '-'}; re-created: ${diff.recreated.join(', ') || '-'}; added: ${diff.added.join(', ') || '-'}; removed: ${diff.removed.join(', ') || '-'}; plugins restarted: ${[...plugins.started, ...plugins.restarted].join(', ') || '-'}`,
    );
    bus.publish({ type: 'config.reloaded', file: opts.file, ...diff });
    watcher?.retarget(config);
  };
  // One reload at a time, in order; a burst of edits collapses into one more reload.
  let reloading: Promise<void> = Promise.resolve();
  let queued = false;
  const requestReload = (why: string) => {
    if (queued) return;
    queued = true;
    reloading = reloading.then(async () => {
      queued = false;
      await reload(why).catch((e: Error) => log.error(`reload: ${e.message}`));
    });
  };

  const watcher = opts.watch === false ? undefined : new ConfigWatcher(opts.file, config, log, {
    onConfig: () => requestReload('config file changed'),
    onPlugin: (id) => host.reloadFile(id) || requestReload('plugins directory changed'),
  });

  return await new Promise<number>((resolvePromise) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info(`${signal}: stopping`);
      void watcher?.close();
      engine
        .stop()
        .then(() => host.stop())
        .catch((e: Error) => log.error(`stop: ${e.message}`))
        .finally(() => {
          if (opts.pidFile) rmSync(opts.pidFile, { force: true });
          log.info('stopped');
          resolvePromise(0);
        });
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGHUP', () => requestReload('SIGHUP'));
  });
}

/** Watches the config file and the user plugins directory. Editors save by rename, so the
 * file's directory is what chokidar follows; a short stability wait turns a save into one
 * event. */
class ConfigWatcher {
  private readonly watcher: FSWatcher;
  private pluginsDir: string | undefined;

  constructor(
    private readonly file: string,
    config: Config,
    private readonly log: Logger,
    private readonly on: { onConfig(): void; onPlugin(id: string): void },
  ) {
    this.watcher = watch([resolve(file)], { ignoreInitial: true, awaitWriteFinish: { stabilityThreshold: 100, pollInterval: 20 } });
    this.watcher.on('all', (_event, path) => this.changed(path));
    this.watcher.on('error', (e) => this.log.warn(`watch: ${(e as Error).message}`));
    this.retarget(config);
  }

  retarget(config: Config): void {
    const dir = config.global_defs.plugins_dir ? resolve(config.global_defs.plugins_dir) : undefined;
    if (dir === this.pluginsDir) return;
    if (this.pluginsDir) this.watcher.unwatch(this.pluginsDir);
    this.pluginsDir = dir;
    if (dir) this.watcher.add(dir);
  }

  private changed(path: string): void {
    if (resolve(path) === resolve(this.file)) return this.on.onConfig();
    if (!this.pluginsDir) return;
    const rel = relative(this.pluginsDir, path);
    if (rel.startsWith('..')) return;
    const top = rel.split('/')[0] ?? rel;
    // a file of a folder plugin reloads that plugin; a new or removed file re-reads the set
    const id = rel.includes('/') ? top : basename(top, extname(top));
    const known = userPluginFiles(this.pluginsDir).some((f) => f.id === id);
    this.on.onPlugin(known ? id : `\0${id}`);
  }

  close(): Promise<void> {
    return this.watcher.close();
  }
}
