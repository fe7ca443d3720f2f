// One row of the benchmark table: a figure for vigil and for keepalived measured in the same
// run, their ratio (vigil / keepalived: below 1 is vigil faster or smaller), and where it
// applies the protocol's floor.
import { f1, ratio } from './lab.ts';

export interface Row {
  section: string;
  figure: string;
  unit: string;
  vigil: number | null;
  keepalived: number | null;
  floor?: number;
  note?: string;
}

export function printRows(rows: Row[]): void {
  const w = Math.max(20, ...rows.map((r) => r.figure.length));
  console.log(`\n${'figure'.padEnd(w)}  ${'unit'.padEnd(6)} ${'vigil'.padStart(9)} ${'keepalived'.padStart(11)} ${'ratio'.padStart(7)} ${'floor'.padStart(8)}  note`);
  const order = [...new Set(rows.map((r) => r.section))];
  const grouped = order.flatMap((s) => rows.filter((r) => r.section === s));
  let section = '';
  for (const r of grouped) {
    if (r.section !== section) {
      section = r.section;
      console.log(`-- ${section}`);
    }
    const v = r.vigil ?? NaN;
    const k = r.keepalived ?? NaN;
    console.log(
      `${r.figure.padEnd(w)}  ${r.unit.padEnd(6)} ${f1(v).padStart(9)} ${(r.keepalived === null ? 'n/a' : f1(k)).padStart(11)} ${ratio(v, k).padStart(7)} ${(r.floor === undefined ? '' : f1(r.floor)).padStart(8)}  ${r.note ?? ''}`,
    );
  }
}
