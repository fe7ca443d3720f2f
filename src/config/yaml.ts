// The YAML reader: parses with line counting, so a schema error points at the line and column
// of the offending node (or of its nearest parent that exists).

import { createRequire } from 'node:module';
import type * as Yaml from 'yaml';
import type { LineCounter, parseDocument } from 'yaml';
import { PositionMap, type Diagnostic, type Path } from './diagnostics.ts';

/** The yaml package, loaded on first use: a keepalived.conf without an overlay never needs it, and
 * it is ~260 KB of code to compile (`vigil -t`, the engine's memory). Required from node_modules
 * at run time, outside the build's bundle. */
let yamlPackage: typeof Yaml | undefined;
const yaml = (): typeof Yaml => (yamlPackage ??= createRequire(import.meta.url)('yaml') as typeof Yaml);

export interface YamlRead {
  raw: unknown;
  positions: PositionMap;
  diagnostics: Diagnostic[];
}

export function readYaml(text: string, file: string): YamlRead {
  const { LineCounter, parseDocument } = yaml();
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  const diagnostics: Diagnostic[] = [];
  for (const e of [...doc.errors, ...doc.warnings]) {
    const pos = lineCounter.linePos(e.pos[0]);
    diagnostics.push({
      file,
      line: pos.line,
      col: pos.col,
      severity: doc.errors.includes(e as never) ? 'error' : 'warning',
      field: 'yaml',
      message: e.message.split('\n')[0] ?? e.message,
    });
  }
  const positions = new YamlPositions(doc, lineCounter, file);
  return { raw: doc.errors.length > 0 ? {} : (doc.toJS() ?? {}), positions, diagnostics };
}

/** A PositionMap that asks the YAML document where a path is, on demand. */
class YamlPositions extends PositionMap {
  constructor(
    private readonly doc: ReturnType<typeof parseDocument>,
    private readonly lines: LineCounter,
    private readonly file: string,
  ) {
    super({ file, line: 1, col: 1 });
  }

  override get(path: Path) {
    for (let n = path.length; n >= 0; n--) {
      const node = n === 0 ? this.doc.contents : this.doc.getIn(path.slice(0, n), true);
      if (yaml().isNode(node) && node.range) {
        const { line, col } = this.lines.linePos(node.range[0]);
        return { file: this.file, line, col };
      }
    }
    return super.get(path);
  }
}

/** YAML text of a config object, without the empty lists and maps the defaults restore. */
export function toYaml(value: unknown): string {
  return yaml().stringify(prune(value), { lineWidth: 0 });
}

function prune(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(prune);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      const p = prune(x);
      if (Array.isArray(p) && p.length === 0) continue;
      if (p && typeof p === 'object' && !Array.isArray(p) && Object.keys(p).length === 0) continue;
      if (p === undefined) continue;
      out[k] = p;
    }
    return out;
  }
  return v;
}
