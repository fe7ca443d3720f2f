// A config problem with its place: `file:line:col: field: message`, the form editors and
// `vigil -t` users expect. Readers never throw on bad input; they return these.

export interface Position {
  file: string;
  line: number;
  col: number;
}

export interface Diagnostic extends Position {
  severity: 'error' | 'warning';
  /** Dotted path of the field, e.g. vrrp_instance.VI_1.virtual_router_id. */
  field: string;
  message: string;
}

export function formatDiagnostic(d: Diagnostic): string {
  const where = `${d.file}:${d.line}:${d.col}`;
  return d.severity === 'error' ? `${where}: ${d.field}: ${d.message}` : `${where}: ${d.field}: warning: ${d.message}`;
}

export function hasErrors(ds: Diagnostic[]): boolean {
  return ds.some((d) => d.severity === 'error');
}

export type Path = ReadonlyArray<string | number>;

export function pathToField(path: Path): string {
  return path.map(String).join('.');
}

/** Positions of the fields a reader produced, looked up by path; a path with no position of
 * its own takes its nearest ancestor's. */
export class PositionMap {
  private readonly map = new Map<string, Position>();
  constructor(private readonly fallback: Position) {}

  set(path: Path, pos: Position): void {
    this.map.set(JSON.stringify(path.map(String)), pos);
  }

  get(path: Path): Position {
    for (let n = path.length; n >= 0; n--) {
      const p = this.map.get(JSON.stringify(path.slice(0, n).map(String)));
      if (p) return p;
    }
    return this.fallback;
  }
}
