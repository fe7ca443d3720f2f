// Failover only, in the namespace lab (root; keepalived and tcpdump installed): node death and
// clean stop of the Master, vigil and keepalived side by side. `npm run bench` runs this and
// the rest of the lab figures; see BENCHMARKS.md.
//
//   node --import tsx scripts/failover-bench.ts [TRIALS]     (default 10)
import { benchFailover } from './bench/failover.ts';
import { printRows } from './bench/report.ts';

const trials = Number(process.argv[2] ?? 10);
const { rows, notify } = await benchFailover(trials, (s) => console.log(s));
printRows([...rows, ...notify]);
