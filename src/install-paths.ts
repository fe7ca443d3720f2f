// Where vigil's files are, whichever way this code runs: as TypeScript from src/ (tests, through
// tsx) or bundled into dist/ (the daemon, `node scripts/build.mjs`). A module's own URL says
// little once bundled (it is then a chunk under dist/chunks/), so the package directory is found
// by walking up to vigil's package.json, once, when this module loads.

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

function packageRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'vigil') return dir;
    if (dirname(dir) === dir) throw new Error(`vigil's package.json not found above ${from}`);
  }
}

const here = fileURLToPath(import.meta.url);

/** The package directory (package.json, bin/, dist/, plugins/, node_modules/). */
export const ROOT = packageRoot(dirname(here));
/** The build's output: the CLI, the worker runtimes, the built-in plugins. */
export const DIST = join(ROOT, 'dist');
/** This code runs as TypeScript through tsx (tests), not from the build. */
export const FROM_SOURCE = here.endsWith('.ts');
/** The package's version, from package.json. */
export const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** A file of the build, as a URL (for new Worker / import). */
export function distUrl(file: string): URL {
  return new URL(file, pathToFileURL(`${DIST}/`));
}
