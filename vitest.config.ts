import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: [
      'gateway/**/*.test.ts',
      'devices/**/*.test.ts',
      'core/**/*.test.ts',
      'contract/**/*.test.ts',
      'main/**/*.test.ts',
      'firmware-sim/**/*.test.ts',
      'api/**/*.test.ts',
      'platform/**/*.test.ts',
      'testing/**/*.test.ts',
      'test/**/*.test.ts',
    ],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration tests spawn simulator processes and brokers; two cores here.
    maxWorkers: 2,
  },
});
