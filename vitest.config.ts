import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Namespace tests shell out to ip/tcpdump/tshark; give them room, but keep
    // the whole suite well under CI's budget.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Kernel interop tests create namespaces; running files one at a time
    // keeps their captures and timing independent of each other.
    fileParallelism: false,
    reporters: ['default', './test/summary-reporter.ts'],
  },
});
