import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          // Some unit tests run the CLI as a child process: 5 s is too little on a loaded 2-core machine.
          testTimeout: 20_000,
          // `$name` titles whole: vitest cuts them at chai's 40 characters otherwise.
          chaiConfig: { truncateThreshold: 0 },
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          // Each file starts its own real control plane; two at once on 2 cores starve each other.
          fileParallelism: false,
          testTimeout: 180_000,
          hookTimeout: 240_000,
        },
      },
    ],
  },
});
