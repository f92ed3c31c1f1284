import { defineConfig } from 'vitest/config';

/**
 * The vitest config every package uses: workspace packages resolve to their TypeScript sources
 * (the `@ferry/source` export condition), generous timeouts for real databases and servers, and a JSON
 * report per package that `scripts/test-summary.mjs` adds up.
 */
export default defineConfig({
  resolve: { conditions: ['@ferry/source'] },
  ssr: { resolve: { conditions: ['@ferry/source'] } },
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    reporters: ['default', 'json'],
    outputFile: { json: 'test-results/vitest.json' },
  },
});
