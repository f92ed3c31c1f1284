import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

describe('postgres destination module', () => {
  it('loads neither pg, pg-copy-streams nor kysely until connect()', () => {
    // A child process, so nothing this test file imported can hide a top-level import.
    const script = `
      const { postgres } = await import('@ferry/destinations/postgres');
      const d = postgres({ credentials: 'postgres://u:secret@127.0.0.1:1/db' });
      const { createRequire } = await import('node:module');
      const loaded = Object.keys(createRequire(import.meta.url).cache).filter((k) => /node_modules\\/(pg|pg-copy-streams|kysely)\\//.test(k));
      console.log(JSON.stringify({ describe: d.describe(), type: d.type, format: d.capabilities.preferredFileFormat, loaded }));
    `;
    const out = execFileSync(
      process.execPath,
      ['--conditions=@ferry/source', '--input-type=module', '-e', script],
      { cwd: import.meta.dirname, encoding: 'utf8' },
    );
    expect(JSON.parse(out)).toEqual({
      describe: 'postgres://u@127.0.0.1:1/db',
      type: 'postgres',
      format: 'pgcopy',
      loaded: [],
    });
  });
});
