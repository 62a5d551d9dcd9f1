/**
 * Prints one plain closing line, `N passed, N failed`, after vitest's own
 * summary, so any CI log reader can tell how many tests ran; before it, the
 * slowest test files, since the whole suite must stay well under CI's
 * 15-minute budget and files run one at a time.
 */
import type { Reporter, TestModule } from 'vitest/node';

export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    for (const mod of testModules) {
      for (const test of mod.children.allTests()) {
        const state = test.result().state;
        if (state === 'passed') passed++;
        else if (state === 'failed') failed++;
        else skipped++;
      }
      if (mod.state() === 'failed' && mod.children.size === 0) failed++;
    }
    const slowest = [...testModules]
      .map((m) => ({ file: m.moduleId.replace(`${process.cwd()}/`, ''), s: m.diagnostic().duration / 1000 }))
      .sort((a, b) => b.s - a.s)
      .slice(0, 8);
    if (slowest.length > 1) process.stdout.write(`\nslowest files: ${slowest.map((m) => `${m.file} ${m.s.toFixed(0)} s`).join(', ')}\n`);
    process.stdout.write(`\n${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ''}\n`);
  }
}
