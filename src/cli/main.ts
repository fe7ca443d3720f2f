// Entry point of `bin/vigil`: keepalived-compatible flags where they apply, plus vigil's own
// subcommands (`convert`, `schema`).
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CONTROL_COMMANDS, type ControlCommand } from './commands.ts';
import { ROOT, VERSION } from '../install-paths.ts';

// Everything else is imported where a command needs it: `vigil -t` loads the config reader
// (zod, YAML, the keepalived.conf parser) and no socket, netlink or syslog code; the supervising
// parent, which runs for the daemon's whole life, never loads the config reader and stays small;
// the control client loads neither.
const configModules = async () => {
  const [diagnostics, load, sections] = await Promise.all([import('../config/diagnostics.ts'), import('../config/load.ts'), import('../plugins/sections.ts')]);
  return { ...diagnostics, ...load, loadWithPlugins: sections.loadWithPlugins, builtinSections: sections.builtinSections };
};


const DEFAULT_CONFIG = '/etc/keepalived/keepalived.conf';

const HELP = `NAME
  vigil - VRRP high-availability daemon: keepalived's wire protocol and config

SYNOPSIS
  vigil [-n] [-l] [-D] [-S N] [-G] [-f FILE] [-i ID] [-p PIDFILE] [-r VRRP_PIDFILE] [--no-supervise]
  vigil -t [-f FILE] [-i ID] [--overlay FILE]
  vigil status [-f FILE] [-p PIDFILE] [--socket PATH] [--json]
  vigil events [-f FILE] [-p PIDFILE] [--socket PATH] [--json]
  vigil reload [-f FILE] [-p PIDFILE] [--socket PATH] [--json]
  vigil convert FILE [--overlay FILE]
  vigil schema
  vigil genhash [-S [-I]] -s ADDR -p PORT -u PATH [-V HOST] [-P 1.0|1.0c|1.1] [-t SECS] [-v]

COMMANDS
  (none)                run the daemon on the configuration (-f)
  status                a running daemon's instances, priorities, trackers, counters
  events                follow the daemon's events live, one line each
  reload                re-read the config now; prints what changed, or the errors and
                        exits non-zero (the running configuration stays)
  convert FILE          print a keepalived.conf (or YAML) config as vigil YAML
  schema                print the JSON Schema of the YAML config
  genhash               fetch a page as HTTP_GET (-S: SSL_GET) does and print the MD5 its
                        url digest expects; the status is not checked. keepalived's genhash
                        (also vigil -T / --genhash, as the first option): -s server address,
                        -p port, -u path, -V Host header, -I SNI from -V, -P protocol,
                        -t timeout in seconds, -v headers, body and timing, -h its options

OPTIONS
  -f, --use-file FILE   configuration file, YAML or keepalived.conf (default ${DEFAULT_CONFIG})
  -t, --config-test     check the configuration, print every problem, exit non-zero on errors
      --overlay FILE    vigil-only YAML (control, plugins, lvs, ...) merged over the config;
                        default: FILE.vigil.yaml next to a keepalived.conf, when it exists
                        (keepalived.conf stays readable by keepalived; docs/config.md)
  -i, --config-id ID    which @ID conditional lines of keepalived.conf apply (default: host name)
  -n, --dont-fork       stay in the foreground (systemd, containers, tests); without -n vigil
                        starts a background copy of itself and returns
  -l, --log-console     log lines on stderr too, keepalived's console shape with its timestamp:
                          Mon Nov 30 14:30:08 2026: vigil[PID] info: (VI_1) Entering MASTER STATE ...
  -S, --log-facility N  syslog facility: 0-7 (local0-local7), local0-local7, daemon, user
                        (default daemon). By default every line goes to syslog (/dev/log) as
                        keepalived's do: ident Keepalived (the supervisor) and Keepalived_vrrp
                        (the engine), priorities err, warning, info, debug
  -G, --no-syslog       no syslog. Without -l, lines then go to stderr as JSON objects (level,
                        time, pid, msg and the line's fields), for journald and log shippers;
                        a line syslog cannot take (no /dev/log) goes there as well. Whatever
                        the target, passwords, tokens and secrets of the config are masked.
  -D, --log-detail      debug lines too (dropped packets, supervisor details)
  -p, --pid FILE        the daemon's pid (the supervisor's, the one to signal; one file per
                        daemon, e.g. per namespace); its control socket is FILE with the
                        extension replaced by .sock. With neither -p nor -r: /run/vigil.pid
                        for the host's daemon (-f /etc/vigil/vigil.yaml or keepalived's
                        default config), /run/vigil/NAME-HASH.pid for any other config;
                        not taken from another running daemon
  -r, --vrrp_pid FILE   the engine's pid (the supervised child, keepalived's VRRP child);
                        default /run/vigil_vrrp.pid, /run/vigil/NAME-HASH_vrrp.pid
      --no-supervise    run the engine in this very process: no parent that restarts it
      --socket PATH     status/events/reload: the control socket (default from -f/-p; with
                        neither, the host's daemon's /run/vigil/vigil.sock)
      --json            status/events/reload: JSON output
  -v, --version         print the version and exit
  -h, --help            print this help and exit

SUPERVISION
  By default the process started is a small supervisor: it runs the engine as a child
  process, forwards signals to it, and restarts it when it dies unexpectedly (at most 5
  times in 60 s, then it exits 1); each restart is logged with the exit code or signal, and
  the new engine removes the addresses the dead one left before its first election. When
  the supervisor dies, even by SIGKILL, the engine dies with it at once.

SIGNALS (to the -p pid; the supervisor forwards them)
  SIGTERM, SIGINT       clean stop: priority-0 adverts, addresses removed, notify stop scripts
  SIGHUP                reload the config (an edit of the file reloads as well)
  SIGUSR1               state dump to control.state_dump (default /tmp/keepalived.data)
  SIGUSR2               statistics dump to control.stats_dump (default /tmp/keepalived.stats)

ENVIRONMENT
  NOTIFY_SOCKET         systemd's notify socket (Type=notify): READY=1 once the instances
                        run, RELOADING=1 / READY=1 around a reload, STOPPING=1 on stop
  WATCHDOG_USEC         systemd's watchdog: WATCHDOG=1 every WATCHDOG_USEC/2
  VIGIL_SYSLOG_SOCKET   the syslog socket instead of /dev/log (a unix datagram socket)

EXIT STATUS
  0 clean stop or valid config; 1 invalid config, or the engine died too often; 2 usage

FILES
  /etc/vigil/vigil.yaml, ${DEFAULT_CONFIG}    configuration
  /run/vigil.pid, /run/vigil_vrrp.pid         the host's daemon's pids (supervisor, engine)
  /run/vigil/                                 control sockets, other daemons' pid files
  /dev/log                                    syslog
  contrib/systemd/vigil.service               systemd unit (scripts/install.sh installs it)

SEE ALSO
  keepalived(8), keepalived.conf(5); docs/operations.md, docs/config.md, docs/plugins.md
`;

/** A usage error: one line and where the manual is, exit 2. */
function usage(message: string): number {
  process.stderr.write(`vigil: ${message}\nsee vigil --help\n`);
  return 2;
}

/** Runs the CLI with argv (without node and script) and resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  // genhash has its own options (keepalived's: -s, -p, -u, -S ... clash with the daemon's), and
  // keepalived takes -T / --genhash only as the first option
  if (argv[0] === 'genhash' || argv[0] === '-T' || argv[0] === '--genhash') {
    const { genhash } = await import('./genhash.ts');
    return genhash(argv.slice(1), argv[0] === 'genhash' ? 'vigil genhash' : `vigil ${argv[0]}`);
  }
  let args;
  try {
    args = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        'use-file': { type: 'string', short: 'f' },
        'config-test': { type: 'boolean', short: 't' },
        'config-id': { type: 'string', short: 'i' },
        overlay: { type: 'string' },
        'dont-fork': { type: 'boolean', short: 'n' },
        'log-console': { type: 'boolean', short: 'l' },
        'log-detail': { type: 'boolean', short: 'D' },
        'log-facility': { type: 'string', short: 'S' },
        'no-syslog': { type: 'boolean', short: 'G' },
        pid: { type: 'string', short: 'p' },
        vrrp_pid: { type: 'string', short: 'r' },
        'no-supervise': { type: 'boolean' },
        // internal: the engine process a supervising parent forks
        'engine-child': { type: 'boolean' },
        socket: { type: 'string' },
        json: { type: 'boolean' },
        version: { type: 'boolean', short: 'v' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    return usage((e as Error).message.replace(/\. To specify a positional argument.*$/s, ''));
  }
  const { values, positionals } = args;
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (values.version) {
    process.stdout.write(`vigil ${VERSION}\n`);
    return 0;
  }
  const configId = values['config-id'];
  if (values.overlay !== undefined) {
    // every config this process loads gets it: the daemon, its reloads, -t, convert, and the
    // control commands finding control.socket (an engine child parses the same argv)
    const { setOperatorOverlay } = await import('../config/overlay.ts');
    setOperatorOverlay(values.overlay);
  }
  const [command, operand] = positionals;
  if (command !== undefined && CONTROL_COMMANDS.includes(command)) {
    const { controlCommand } = await import('./control.ts');
    return controlCommand(command as ControlCommand, { file: values['use-file'] ?? DEFAULT_CONFIG, fileGiven: values['use-file'] !== undefined, configId, pidFile: values.pid, socket: values.socket, json: values.json });
  }
  if (command === 'schema') {
    const { configJsonSchema } = await import('../config/schema.ts');
    process.stdout.write(JSON.stringify(configJsonSchema(), null, 2) + '\n');
    return 0;
  }
  if (command === 'convert') {
    const file = operand ?? values['use-file'];
    if (!file) {
      process.stderr.write('vigil convert: which file?\n');
      return 2;
    }
    const { loadConfigFile, builtinSections, formatDiagnostic } = await configModules();
    const { toYaml } = await import('../config/yaml.ts');
    // which plugins exist on this machine is not the conversion's business (inventory: false)
    const r = loadConfigFile(file, { plugins: builtinSections({ inventory: false }), ...(configId ? { configId } : {}) });
    for (const d of r.diagnostics) process.stderr.write(formatDiagnostic(d) + '\n');
    if (!r.config) return 1;
    // the plugins sections as written: the built-ins' made from keepalived keywords are made again on load
    process.stdout.write(toYaml({ ...r.config, plugins: r.pluginsAsWritten ?? r.config.plugins }));
    return 0;
  }
  if (command !== undefined) return usage(`unknown command '${command}'`);
  if (values['config-test']) {
    const file = values['use-file'] ?? DEFAULT_CONFIG;
    const { loadWithPlugins, formatDiagnostic, hasErrors } = await configModules();
    const r = loadWithPlugins(file, configId ? { configId } : {});
    if (r.config) {
      // the scripts as the daemon's plugins will check them when they start
      const { scriptDiagnostics } = await import('../plugins/script-check.ts');
      r.diagnostics.push(...scriptDiagnostics(r.config, r.positions, file));
    }
    // on what parsed, even with errors elsewhere: every problem in one run, as keepalived -t
    const checked = r.config ?? r.checked;
    if (checked && (checked.global_defs.plugins_dir || Object.keys(checked.global_defs.plugin_user).length > 0)) {
      // every user plugin loaded as the daemon would, its section validated by its schema
      const { checkUserPlugins } = await import('../plugins/plugin-check.ts');
      r.diagnostics.push(...(await checkUserPlugins(checked, r.positions)));
    }
    for (const d of r.diagnostics) process.stderr.write(formatDiagnostic(d) + '\n');
    const errors = r.diagnostics.filter((d) => d.severity === 'error').length;
    const warnings = r.diagnostics.length - errors;
    if (r.unreadable) {
      process.stderr.write(`${file}: the configuration file cannot be read; nothing was checked\n`);
      return 1;
    }
    process.stderr.write(
      `${file}${r.overlay ? ` + ${r.overlay}` : ''}: ${hasErrors(r.diagnostics) ? 'invalid' : 'valid'} ${r.format === 'yaml' ? 'YAML' : 'keepalived.conf'} configuration` +
        ` (${errors} error${errors === 1 ? '' : 's'}, ${warnings} warning${warnings === 1 ? '' : 's'})\n`,
    );
    return hasErrors(r.diagnostics) ? 1 : 0;
  }
  const { FACILITY_DAEMON, parseFacility } = await import('../daemon/syslog.ts');
  const facility = values['log-facility'] === undefined ? FACILITY_DAEMON : parseFacility(values['log-facility']);
  if (facility === undefined) return usage(`-S ${values['log-facility']}: a syslog facility is 0-7 (local0-local7), local0-local7, daemon or user`);
  const file = values['use-file'] ?? DEFAULT_CONFIG;
  if (!values['dont-fork']) {
    // Like keepalived without -n: detach a foreground copy of ourselves and return.
    const child = spawn(process.execPath, [...process.execArgv, process.argv[1] ?? '', ...argv, '-n'], { detached: true, stdio: 'ignore' });
    child.unref();
    process.stdout.write(`vigil: started in the background, pid ${child.pid}\n`);
    return 0;
  }
  const [{ launch }, { setOperatorPidFile }, { defaultPidFiles }] = await Promise.all([
    import('../daemon/supervisor.ts'),
    import('../control/operator-pid.ts'),
    import('../daemon/pid-file.ts'),
  ]);
  // the control socket follows the operator's -p, also in the forked engine (see socket.ts)
  setOperatorPidFile(values.pid);
  const mode = values['engine-child'] ? 'child' : values['no-supervise'] ? 'none' : 'parent';
  // keepalived writes pid files by default; so does vigil, when neither -p nor -r is given
  // (pid-file.ts; the forked engine gets its file as -r from the supervisor)
  const pidFiles =
    mode !== 'child' && values.pid === undefined && values.vrrp_pid === undefined
      ? { ...defaultPidFiles(file), defaultPidFiles: true }
      : { pidFile: values.pid, vrrpPidFile: values.vrrp_pid };
  return launch({
    file,
    configId,
    detail: values['log-detail'] ?? false,
    console: values['log-console'] ?? false,
    syslogFacility: values['no-syslog'] ? undefined : facility,
    ...pidFiles,
    mode,
    argv,
    entry: process.argv[1] ?? join(ROOT, 'bin', 'vigil'),
  });
}
