// The daemon's life: load the config, write the pid file, start the plugins and the engine, and
// answer keepalived's signals: SIGTERM / SIGINT stop cleanly (priority-0 adverts, addresses
// removed, notify_stop scripts run), SIGHUP re-reads the config. The config file and the user
// plugins directory are also watched: an edit reloads without a signal.
//
// A reload that fails validation changes nothing (config.rejected on the bus, errors in the
// log); one that passes is applied as a diff (config.reloaded says what moved).

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename, dirname, extname, relative, resolve } from 'node:path';
import type { FSWatcher, watch as chokidarWatch } from 'chokidar';
import { EventBus } from '../bus/bus.ts';
import { formatDiagnostic, hasErrors } from '../config/diagnostics.ts';
import { watchedOverlay } from '../config/overlay.ts';
import type { Config } from '../config/schema.ts';
import { PluginHost } from '../plugins/host.ts';
import { instanceInfos, pluginSpecs, userPluginFiles } from '../plugins/loader.ts';
import { loadWithPlugins, userPluginSections } from '../plugins/sections.ts';
import type { Balancer } from '../lvs/balancer.ts';
import { Engine, type ReloadDiff } from './engine.ts';
import { daemonExecAt, EXEC_AT_ENV } from './exec-at.ts';
import { configSecrets, createLogger, type Logger } from './log.ts';
import { removePidFile, writePidFile } from './pid-file.ts';
import type { SyslogOptions } from './syslog.ts';
import { initialReports, TrackerPresets } from './tracker-presets.ts';

export interface DaemonOptions {
  file: string;
  configId?: string | undefined;
  pidFile?: string | undefined;
  detail: boolean;
  /** Human-readable keepalived-like log lines (-l) instead of JSON lines. */
  console?: boolean;
  /** Watch the config file and plugins directory (default on). */
  watch?: boolean;
  /** Syslog (the default on the command line; -G turns it off); absent: none. */
  syslog?: SyslogOptions | undefined;
}

export type ReloadResult =
  | { ok: true; diff: ReloadDiff; pluginsRestarted: string[]; pluginsRemoved?: string[] }
  | { ok: false; errors: string[] };

/** What control interfaces (signals, the status socket, HTTP) reach: one object, so each of
 * them is a thin adapter. */
export interface Daemon {
  readonly opts: DaemonOptions;
  readonly log: Logger;
  readonly bus: EventBus;
  readonly engine: Engine;
  /** The load balancer (virtual_server); idle when none is configured. */
  readonly balancer: Balancer;
  readonly host: PluginHost;
  config(): Config;
  /** Re-reads the config and applies it; reloads are serialized. */
  reload(why: string): Promise<ReloadResult>;
  /** Clean stop; resolves when done. */
  stop(why: string): Promise<void>;
  /** Resolves (with the exit code) once the daemon has stopped. */
  readonly stopped: Promise<number>;
  /** Called once everything is up; control interfaces register themselves here. */
  onStop(fn: () => void | Promise<void>): void;
}

export async function runDaemon(opts: DaemonOptions): Promise<number> {
  // A stop asked for while the daemon is still starting (the engine, its control socket) is
  // held and carried out once it has started, so it is as clean as any other; without the
  // handler from the first moment, Node's default would kill the engine mid-start.
  let daemon: Daemon | null = null;
  let stopAsked: string | undefined;
  const stopOn = (signal: string) => () => {
    if (daemon) void daemon.stop(signal);
    else stopAsked ??= signal;
  };
  process.on('SIGTERM', stopOn('SIGTERM'));
  process.on('SIGINT', stopOn('SIGINT'));
  const started = await startDaemon(opts);
  if (!started) return 1;
  // loaded once the instances run: nothing of it is needed before
  const { startControl } = await import('../control/index.ts');
  await startControl(started);
  daemon = started;
  process.on('SIGHUP', () => void started.reload('SIGHUP'));
  if (stopAsked) void started.stop(stopAsked);
  return started.stopped;
}

/** Loads the config, starts plugins and engine, watches files. Null if the config is invalid. */
export async function startDaemon(opts: DaemonOptions): Promise<Daemon | null> {
  const log = createLogger({ detail: opts.detail, console: opts.console ?? false, syslog: opts.syslog });
  // what the config file held at the last load, so a file event that changed nothing (a
  // second event of one save, a touch, a chmod) does not load, and log, the same file again
  let loadedContent: string | undefined;
  // the overlay (config/overlay.ts) is part of the config: watched, digested and reloaded with it
  const overlayFile = resolve(watchedOverlay(opts.file));
  const digest = () => {
    const d = fileDigest(opts.file);
    return d === undefined ? undefined : `${d} ${fileDigest(overlayFile) ?? '-'}`;
  };
  const load = () => {
    loadedContent = digest();
    return loadWithPlugins(opts.file, opts.configId ? { configId: opts.configId } : {});
  };
  const first = load();
  // the log's last guard masks these wherever they appear, message text included (set before
  // the diagnostics are printed: a warning may quote a value)
  if (first.config) log.setSecrets(configSecrets(first.config));
  for (const d of first.diagnostics) log[d.severity === 'error' ? 'error' : 'warn'](formatDiagnostic(d));
  if (!first.config) return null;
  let config: Config = first.config;
  if (opts.pidFile) {
    try {
      writePidFile(opts.pidFile);
    } catch (e) {
      log.error((e as Error).message);
      return null;
    }
  }

  const bus = new EventBus(undefined, (e) => log.error(`event subscriber: ${(e as Error).message}`));
  const engine = new Engine(config, log, bus);
  const presets = new TrackerPresets(engine, bus);
  const host = new PluginHost({
    bus,
    log,
    onAdjust: (plugin, instance, source, weight) => {
      presets.reported(plugin, instance, source, 'adjust');
      engine.adjust(plugin, instance, source, weight);
    },
    onFault: (plugin, instance, source, active) => {
      presets.reported(plugin, instance, source, 'fault');
      engine.setFault(plugin, instance, source, active);
    },
    onRemoved: (plugin) => {
      presets.forget(plugin);
      engine.forgetPlugin(plugin);
    },
    currentStates: () => engine.states(),
  });
  // The instances start without waiting for the plugins (their workers take a few hundred
  // milliseconds to come up; a peer started at the same moment would win the first election
  // meanwhile), as keepalived starts its instances before its first script runs:
  // - the plugins' slots exist before the first event, so the instances' first transitions are
  //   queued for a plugin still starting and reach it when it is up (notify_backup runs);
  // - trackers whose first state the config tells (an init_fail script, a tracked link that is
  //   down, a track file's value) are set in the engine first, so they hold from the start
  //   (tracker-presets.ts); the others report when their plugin is up.
  // (with the places of the config file, for a user plugin's invalid section)
  const specs = await pluginSpecs(config, first.positions);
  host.apply(specs, instanceInfos(config), userPluginSections(config));
  presets.apply(await initialReports(specs, new Set(Object.keys(config.vrrp_instance)), log));
  log.info(`starting with ${Object.keys(config.vrrp_instance).length} instance(s) from ${opts.file}${first.overlay ? ` and the overlay ${first.overlay}` : ''}`);
  const execAt = daemonExecAt();
  delete process.env[EXEC_AT_ENV]; // not for the scripts and plugins the engine runs
  await engine.start(execAt);
  // Whatever the instances do not need is loaded after they run: the load balancer, the file
  // watchers, the control interfaces (runDaemon).
  // The load balancer after VRRP: its checks and its nft transaction must not delay the first
  // adverts (a refused data plane is logged and retried, never fatal).
  // keepalived's checker process as one worker thread, started with the first virtual server:
  // the checkers' attempts and the nftables data plane (building its document is too long for
  // the engine's loop at a thousand backends)
  const [{ Balancer }, { CheckerWorker, WorkerDataPlane }] = await Promise.all([import('../lvs/balancer.ts'), import('../lvs/probe-runner.ts')]);
  const checkerWorker = new CheckerWorker({ onError: (m) => log.error(`LVS: ${m}`), onWarn: (m) => log.warn(`LVS: ${m}`) });
  const balancer: Balancer = new Balancer({
    bus,
    log,
    dataPlane: new WorkerDataPlane(checkerWorker, { table: config.lvs.table }),
    probes: checkerWorker,
    keepOnStop: config.lvs.keep_on_stop,
    // PLUGIN_CHECK: the checkers plugins registered run in their plugins' workers
    pluginChecks: host,
  });
  if (config.virtual_server.length > 0) await balancer.apply(config);

  const reloadNow = async (why: string): Promise<ReloadResult> => {
    if (stopping) return { ok: false, errors: ['the daemon is stopping'] };
    const next = load();
    // both sets while either may be running or quoted; the rejected one's go again below
    if (next.config) log.setSecrets([...configSecrets(config), ...configSecrets(next.config)]);
    for (const d of next.diagnostics) log[d.severity === 'error' ? 'error' : 'warn'](formatDiagnostic(d));
    if (!next.config || hasErrors(next.diagnostics)) {
      const errors = next.diagnostics.filter((d) => d.severity === 'error').map(formatDiagnostic);
      log.error(`${why}: reload rejected; the running configuration stays`);
      log.setSecrets(configSecrets(config));
      engine.reloads.rejected++;
      bus.publish({ type: 'config.rejected', file: opts.file, errors });
      return { ok: false, errors };
    }
    config = next.config;
    log.setSecrets(configSecrets(config));
    const diff = await engine.reload(config);
    if (config.virtual_server.length > 0 || balancer.active) await balancer.apply(config);
    const plugins = host.apply(await pluginSpecs(config, next.positions), instanceInfos(config), userPluginSections(config));
    const pluginsRestarted = [...plugins.started, ...plugins.restarted];
    log.info(
      `${why}: reloaded; unchanged: ${diff.unchanged.join(', ') || '-'}; updated: ${diff.updated.join(', ') || '-'}; re-created: ${diff.recreated.join(', ') || '-'}; added: ${diff.added.join(', ') || '-'}; removed: ${diff.removed.join(', ') || '-'}; plugins restarted: ${pluginsRestarted.join(', ') || '-'}${plugins.removed.length ? `; plugins removed: ${plugins.removed.join(', ')}` : ''}`,
    );
    engine.reloads.applied++;
    bus.publish({ type: 'config.reloaded', file: opts.file, ...diff });
    watcher?.retarget(config);
    return { ok: true, diff, pluginsRestarted, pluginsRemoved: plugins.removed };
  };
  // One reload at a time, in order.
  let reloading: Promise<unknown> = Promise.resolve();
  /** Reloads asked for and not finished (a stop need not wait when there are none). */
  let reloadsPending = 0;
  const reload = (why: string): Promise<ReloadResult> => {
    reloadsPending++;
    const p = reloading
      .then(() => reloadNow(why))
      .catch((e: Error): ReloadResult => {
        log.error(`reload: ${e.message}`);
        return { ok: false, errors: [e.message] };
      })
      .finally(() => reloadsPending--);
    reloading = p;
    return p;
  };
  // A burst of file events collapses into one more reload.
  let watchQueued = false;
  const requestReload = (why: string, onlyIfChanged = false) => {
    if (watchQueued) return;
    watchQueued = true;
    void reloading.then(() => {
      watchQueued = false;
      if (onlyIfChanged && loadedContent !== undefined && digest() === loadedContent) {
        log.debug(`${why}: same content as at the last load; nothing to do`);
        return;
      }
      return reload(why);
    });
  };

  const watch = opts.watch === false ? undefined : (await import('chokidar')).watch;
  const watcher = watch === undefined ? undefined : new ConfigWatcher(watch, opts.file, overlayFile, config, log, {
    onConfig: () => requestReload('config file changed', true),
    onPlugin: (id) => host.reloadFile(id) || requestReload('plugins directory changed'),
  });

  const stopFns: Array<() => void | Promise<void>> = [];
  let resolveStopped!: (code: number) => void;
  const stopped = new Promise<number>((r) => (resolveStopped = r));
  let stopping: Promise<void> | undefined;
  const stop = (why: string): Promise<void> => {
    stopping ??= (async () => {
      // The goodbye comes first: every Master sends its priority-0 advert and gives up its
      // addresses now, so a Backup takes over after Skew_Time; closing the watchers and control
      // interfaces can wait until after (it cost ~50 ms of the handover when it came first).
      // engine.stop() sends the adverts before its first await, so with no reload under way
      // they leave in this very call, before even the log line (which cost ~1 ms before them).
      // A reload under way finishes first; none starts once stopping (reloadNow checks).
      const goodbye = reloadsPending === 0 ? engine.stop() : reloading.catch(() => undefined).then(() => engine.stop());
      log.info(`${why}: stopping`);
      await goodbye.catch((e: Error) => log.error(`stop: ${e.message}`));
      await balancer.stop().catch((e: Error) => log.error(`stop: ${e.message}`));
      await checkerWorker.close();
      await watcher?.close();
      for (const fn of stopFns.reverse()) await Promise.resolve().then(fn).catch((e: Error) => log.warn(`stop: ${e.message}`));
      await host.stop().catch((e: Error) => log.error(`stop: ${e.message}`));
      if (opts.pidFile) removePidFile(opts.pidFile);
      log.info('stopped');
      log.flush();
      resolveStopped(0);
    })();
    return stopping;
  };

  return {
    opts,
    log,
    bus,
    engine,
    balancer,
    host,
    config: () => config,
    reload,
    stop,
    stopped,
    onStop: (fn) => void stopFns.push(fn),
  };
}

/** A digest of the file's content, or undefined when it cannot be read. */
function fileDigest(file: string): string | undefined {
  try {
    return createHash('sha256').update(readFileSync(file)).digest('hex');
  } catch {
    return undefined;
  }
}

/** Watches the config file, its overlay and the user plugins directory. Editors save by
 * rename, and a deleted file may come back: so the config's directory (and the overlay's) is
 * what is watched, filtered to those two files, rather than the files themselves (chokidar does
 * not report a watched file's re-creation when another watched file of the same directory does
 * not exist yet, as the overlay usually does not; found by test/faults/scripts.test.ts). The
 * plugins directory has a watcher of its own. A short stability wait turns a save into one
 * event. */
class ConfigWatcher {
  private readonly watcher: FSWatcher;
  private pluginWatcher: FSWatcher | undefined;
  private pluginsDir: string | undefined;

  constructor(
    private readonly watch: typeof chokidarWatch,
    private readonly file: string,
    private readonly overlay: string,
    config: Config,
    private readonly log: Logger,
    private readonly on: { onConfig(): void; onPlugin(id: string): void },
  ) {
    const files = new Set([resolve(file), overlay]);
    const dirs = new Set([...files].map((f) => dirname(f)));
    this.watcher = this.watch([...dirs], {
      ignoreInitial: true,
      depth: 0,
      ignored: (p: string) => !dirs.has(p) && !files.has(p),
      awaitWriteFinish: { stabilityThreshold: 100, pollInterval: 20 },
    });
    this.watcher.on('all', (_event, path) => {
      if (files.has(resolve(path))) this.on.onConfig();
    });
    this.watcher.on('error', (e) => this.log.warn(`watch: ${(e as Error).message}`));
    this.retarget(config);
  }

  retarget(config: Config): void {
    const dir = config.global_defs.plugins_dir ? resolve(config.global_defs.plugins_dir) : undefined;
    if (dir === this.pluginsDir) return;
    void this.pluginWatcher?.close();
    this.pluginWatcher = undefined;
    this.pluginsDir = dir;
    if (!dir) return;
    this.pluginWatcher = this.watch(dir, { ignoreInitial: true, awaitWriteFinish: { stabilityThreshold: 100, pollInterval: 20 } });
    this.pluginWatcher.on('all', (_event, path) => this.pluginChanged(path));
    this.pluginWatcher.on('error', (e) => this.log.warn(`watch: ${(e as Error).message}`));
  }

  private pluginChanged(path: string): void {
    if (!this.pluginsDir) return;
    const rel = relative(this.pluginsDir, path);
    if (rel.startsWith('..')) return;
    const top = rel.split('/')[0] ?? rel;
    // a file of a folder plugin reloads that plugin; a new or removed file re-reads the set
    const id = rel.includes('/') ? top : basename(top, extname(top));
    const known = userPluginFiles(this.pluginsDir).some((f) => f.id === id);
    this.on.onPlugin(known ? id : `\0${id}`);
  }

  async close(): Promise<void> {
    await Promise.all([this.watcher.close(), this.pluginWatcher?.close()]);
  }
}
