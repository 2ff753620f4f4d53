import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      // `$name` titles whole: vitest cuts them at chai's 40 characters otherwise.
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'], chaiConfig: { truncateThreshold: 0 } } },
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
