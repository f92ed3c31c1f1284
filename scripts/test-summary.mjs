// Sums the vitest JSON reports of every package into one closing line: "tests: N passed, N failed".
import { readFileSync, existsSync, globSync } from 'node:fs';

let passed = 0;
let failed = 0;
let skipped = 0;
for (const file of globSync('{packages/*,bench,examples}/test-results/vitest.json')) {
  if (!existsSync(file)) continue;
  const report = JSON.parse(readFileSync(file, 'utf8'));
  passed += report.numPassedTests ?? 0;
  failed += report.numFailedTests ?? 0;
  skipped += (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
}
console.log(`tests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed > 0 ? 1 : 0);
