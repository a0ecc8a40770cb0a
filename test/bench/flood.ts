// npm run bench:flood [-- SECONDS]: 8 clients flood port control and stats
// (test/lib/flood.ts) while a ninth times its stats requests; prints the
// figures of issue 12: every request answered, the ninth client's p99, the
// memory of both processes over the run, the limits, what is left after.
import { flood, floodSummary } from '../lib/flood.js';

const seconds = Number(process.argv[2] ?? 60);
const r = await flood(8, seconds);
for (const line of floodSummary(r, seconds)) console.log(line);
