// The closing lines of .ci/run, from vitest's JSON report: the ten slowest test files (where CI
// time goes, so a file that grows shows up before CI's limit does) and one plain count.
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';

const report = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const files = report.testResults.map((file) => ({
  name: relative(process.cwd(), file.name),
  seconds: (file.endTime - file.startTime) / 1000,
  tests: file.assertionResults.length,
}));
const total = files.reduce((sum, file) => sum + file.seconds, 0);
console.log(`slowest test files (a file run by two projects counts twice; ${Math.round(total)} s in all files):`);
for (const file of files.sort((a, b) => b.seconds - a.seconds).slice(0, 10)) {
  console.log(`${file.seconds.toFixed(1).padStart(8)} s  ${file.name} (${file.tests} tests)`);
}
const failedFiles = report.testResults.filter((file) => file.status === 'failed').length;
console.log(
  `tests: ${report.numPassedTests} passed, ${report.numFailedTests} failed, ${report.numPendingTests + report.numTodoTests} skipped; files: ${failedFiles} failed`,
);
