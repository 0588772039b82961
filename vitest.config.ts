import { defineConfig } from 'vitest/config';

const ALL_TESTS = [
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
];

/**
 * What `npm run test:unit` leaves out: everything that spawns a process or
 * needs socat ptys, Chromium or Mosquitto. By naming convention: cross-layer
 * tests live in test/, and a unit test beside the code that starts a process
 * (a simulator, socat, a CLI) is named `*.process.test.ts`.
 */
const NOT_UNIT = ['test/**', '**/*.process.test.ts'];

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration tests spawn simulator processes and brokers; two cores here.
    maxWorkers: 2,
    coverage: {
      provider: 'v8',
      include: [
        'api/**',
        'contract/**',
        'core/**',
        'devices/**',
        'gateway/**',
        'main/**',
        'platform/**',
        'firmware-sim/**',
      ],
      exclude: ['**/*.test.ts', '**/fixtures/**'],
      reporter: ['text-summary', 'html'],
      reportsDirectory: 'coverage',
    },
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ALL_TESTS, exclude: NOT_UNIT },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: NOT_UNIT.flatMap((p) => (p === 'test/**' ? ['test/**/*.test.ts'] : [p])),
        },
      },
    ],
  },
});
