// Entry point of `bin/vigil`: parses keepalived-compatible flags and dispatches.
import { readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

const HELP = `Usage: vigil [OPTIONS]
  -f, --use-file FILE   configuration file (YAML or keepalived.conf)
  -t, --config-test     check the configuration and exit
  -v, --version         print the version and exit
  -h, --help            print this help and exit
`;

/** Runs the CLI with argv (without node and script) and resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help')) {
    process.stdout.write(HELP);
    return 0;
  }
  if (argv.includes('-v') || argv.includes('--version')) {
    process.stdout.write(`vigil ${pkg.version}\n`);
    return 0;
  }
  process.stderr.write(HELP);
  return 2;
}
