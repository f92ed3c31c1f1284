/**
 * `ferry ai init --agent claude|cursor|codex` through `main()` in-process: golden files per agent (set
 * UPDATE_GOLDEN=1 to rewrite them), a second run that changes nothing, and files it did not write.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../src/index.ts';

const GOLDEN = join(import.meta.dirname, 'golden', 'ai-init');
let work: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'ferry-ai-init-'));
});
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

async function project(name: string): Promise<string> {
  const dir = join(work, name);
  await mkdir(join(dir, 'teams'), { recursive: true });
  // a team whose secrets_file must be git-ignored too
  await writeFile(
    join(dir, 'teams', 'analytics.yaml'),
    'pipeline: { name: analytics }\nsecrets_file: ../config/analytics.secrets.env\nsource: { type: dbt_cloud }\ndestination: { type: duckdb }\n',
  );
  return dir;
}

async function ferry(args: string[], cwd: string): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main([...args, '--log-format', 'pretty'], {
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s) },
    env: { FERRY_CONFIG_DIR: 'teams' },
    cwd,
  });
  return { code, out, err };
}

async function files(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else out[relative(dir, p)] = await readFile(p, 'utf8');
    }
  };
  await walk(dir);
  return out;
}

const EXPECTED: Record<string, string[]> = {
  claude: ['.gitignore', '.mcp.json', 'CLAUDE.md'],
  cursor: ['.cursor/mcp.json', '.cursor/rules/ferry.mdc', '.gitignore'],
  codex: ['.codex/config.toml', '.gitignore', 'AGENTS.md'],
};

describe('ferry ai init', () => {
  for (const agent of ['claude', 'cursor', 'codex'] as const) {
    it(`--agent ${agent}: writes the golden files; a second run changes nothing`, async () => {
      const dir = await project(agent);
      const first = await ferry(['ai', 'init', '--agent', agent], dir);
      expect(first.err).toBe('');
      expect(first.code).toBe(0);
      const written = await files(dir);
      delete written['teams/analytics.yaml'];
      expect(Object.keys(written).sort()).toEqual(EXPECTED[agent]);
      for (const [path, text] of Object.entries(written)) {
        const golden = join(GOLDEN, agent, path);
        if (process.env['UPDATE_GOLDEN'] === '1') {
          await mkdir(join(golden, '..'), { recursive: true });
          await writeFile(golden, text);
        }
        expect(text, path).toBe(await readFile(golden, 'utf8'));
      }
      expect(written['.gitignore']).toContain('/config/analytics.secrets.env\n');
      expect(written['.gitignore']).toContain('.ferry/\n');

      const second = await ferry(['ai', 'init', '--agent', agent], dir);
      expect(second.code).toBe(0);
      expect(second.out.trim().split('\n')).toEqual(
        EXPECTED[agent]!.map(() => expect.stringMatching(/^unchanged/)),
      );
      const after = await files(dir);
      delete after['teams/analytics.yaml'];
      expect(after).toEqual(written);
    });
  }

  it('the MCP configs parse in each format and start `ferry mcp`', async () => {
    const claude = JSON.parse(await readFile(join(GOLDEN, 'claude', '.mcp.json'), 'utf8'));
    expect(claude.mcpServers.ferry).toEqual({ type: 'stdio', command: 'ferry', args: ['mcp'], env: {} });
    const cursor = JSON.parse(await readFile(join(GOLDEN, 'cursor', '.cursor', 'mcp.json'), 'utf8'));
    expect(cursor.mcpServers.ferry).toEqual({ command: 'ferry', args: ['mcp'] });
    const codex = parseToml(await readFile(join(GOLDEN, 'codex', '.codex', 'config.toml'), 'utf8'));
    expect(codex).toEqual({ mcp_servers: { ferry: { command: 'ferry', args: ['mcp'] } } });
    const mdc = await readFile(join(GOLDEN, 'cursor', '.cursor', 'rules', 'ferry.mdc'), 'utf8');
    expect(mdc).toMatch(/^---\ndescription: .+\nglobs:\nalwaysApply: true\n---\n/);
  });

  it('files it did not write: refused without --force; with it the user text is kept; other MCP servers and settings are kept', async () => {
    const dir = await project('existing');
    await writeFile(join(dir, 'CLAUDE.md'), '# My project\n\nUse tabs.\n');
    await writeFile(join(dir, '.mcp.json'), '{ "mcpServers": { "other": { "command": "other-mcp" } } }\n');
    await writeFile(join(dir, '.gitignore'), 'node_modules/\n.ferry/\n');
    const refused = await ferry(['ai', 'init', '--agent', 'claude'], dir);
    expect(refused.code).toBe(2);
    expect(refused.err).toMatch(
      /refused +CLAUDE\.md: CLAUDE\.md exists and was not written by ferry; re-run with --force/,
    );
    expect(await readFile(join(dir, 'CLAUDE.md'), 'utf8')).toBe('# My project\n\nUse tabs.\n');
    const mcp = JSON.parse(await readFile(join(dir, '.mcp.json'), 'utf8'));
    expect(Object.keys(mcp.mcpServers)).toEqual(['other', 'ferry']);
    const ignore = await readFile(join(dir, '.gitignore'), 'utf8');
    expect(ignore.startsWith('node_modules/\n.ferry/\n')).toBe(true);
    expect(ignore.match(/^\.ferry\/$/gm)).toHaveLength(1);

    const forced = await ferry(['ai', 'init', '--agent', 'claude', '--force'], dir);
    expect(forced.code).toBe(0);
    const claude = await readFile(join(dir, 'CLAUDE.md'), 'utf8');
    expect(claude.startsWith('# My project\n\nUse tabs.\n\n<!-- ferry:begin')).toBe(true);
    expect((await ferry(['ai', 'init', '--agent', 'claude'], dir)).out).not.toMatch(/updated|created/);

    // somebody else's ferry entry is theirs until --force
    await mkdir(join(dir, '.cursor'), { recursive: true });
    await writeFile(join(dir, '.cursor', 'mcp.json'), '{"mcpServers":{"ferry":{"command":"/opt/ferry"}}}');
    const cursor = await ferry(['ai', 'init', '--agent', 'cursor'], dir);
    expect(cursor.code).toBe(2);
    expect(cursor.err).toMatch(/mcpServers\.ferry entry that ferry did not write/);
    expect(await readFile(join(dir, '.cursor', 'mcp.json'), 'utf8')).toContain('/opt/ferry');

    // Codex: an existing config keeps its settings; invalid TOML is refused even with --force
    await mkdir(join(dir, '.codex'), { recursive: true });
    await writeFile(
      join(dir, '.codex', 'config.toml'),
      'model = "o3"\n\n[mcp_servers.docs]\ncommand = "docs-mcp"\n',
    );
    expect((await ferry(['ai', 'init', '--agent', 'codex', '--force'], dir)).code).toBe(0);
    const toml = parseToml(await readFile(join(dir, '.codex', 'config.toml'), 'utf8'));
    expect(toml).toMatchObject({
      model: 'o3',
      mcp_servers: { docs: { command: 'docs-mcp' }, ferry: { command: 'ferry' } },
    });
    await writeFile(join(dir, '.codex', 'config.toml'), 'model = \n');
    const bad = await ferry(['ai', 'init', '--agent', 'codex', '--force'], dir);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/config\.toml is not valid TOML/);
    expect(existsSync(join(dir, 'AGENTS.md'))).toBe(true);
  });

  it('an unknown agent is a usage error', async () => {
    const dir = await project('unknown');
    const r = await ferry(['ai', 'init', '--agent', 'copilot'], dir);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/Allowed choices are claude, cursor, codex/);
  });
});
