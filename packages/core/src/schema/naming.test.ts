import { describe, expect, it } from 'vitest';
import { NamingConvention, identifierHash } from './naming.ts';

const lower = new NamingConvention({ maxIdentifierLength: 63, identifierCase: 'lower' });
const upper = new NamingConvention({ maxIdentifierLength: 255, identifierCase: 'upper' });
const SAFE = /^[a-z0-9_]+$/;

describe('NamingConvention.normalizeIdentifier', () => {
  it.each([
    ['fooBar', 'foo_bar'],
    ['HTTPServer', 'http_server'],
    ['userID', 'user_id'],
    ['getHTTPResponseCode', 'get_http_response_code'],
    ['already_snake', 'already_snake'],
    ['Name', 'name'],
    ['+1', 'x1'],
    ['-1', '_1'],
    ['a*b', 'axb'],
    ['user@host', 'userahost'],
    ['a|b', 'alb'],
    ['kebab-case-name', 'kebab_case_name'],
    ['café', 'cafe'],
    ['Ångström', 'angstrom'],
    ['1st_place', '_1st_place'],
    ['2', '_2'],
    ['trailing_', 'trailingx'],
    ['trailing__', 'trailingxx'],
    ['a__b', 'a_b'],
    ['a   b', 'a_b'],
    ['with.dot', 'with_dot'],
    ['$ref', '_ref'],
    ['!!!', 'x'],
  ])('%s → %s', (input, expected) => {
    expect(lower.normalizeIdentifier(input)).toBe(expected);
  });

  it('makes hostile input safe', () => {
    const out = lower.normalizeIdentifier('x"; drop table y; --');
    expect(out).toMatch(SAFE);
    expect(out).toBe('x_drop_table_yxxx');
    expect(lower.normalizeIdentifier("Robert'); DROP TABLE students;--")).toMatch(SAFE);
    expect(lower.normalizeIdentifier('a\u0000b\nc\td')).toBe('a_b_c_d');
    expect(lower.normalizeIdentifier('`backtick`')).toMatch(SAFE);
  });

  it('keeps _ferry_ names as they are', () => {
    expect(lower.normalizeIdentifier('_ferry_id')).toBe('_ferry_id');
    expect(upper.normalizeIdentifier('_ferry_load_id')).toBe('_ferry_load_id');
  });

  it('folds to upper case for upper-case destinations', () => {
    expect(upper.normalizeIdentifier('fooBar')).toBe('FOO_BAR');
    expect(upper.normalizeIdentifier('HTTPServer')).toBe('HTTP_SERVER');
    expect(upper.normalizeIdentifier('名前')).toMatch(/^[A-Z0-9_]+$/);
  });

  it('hashes dropped non-ASCII characters so distinct names stay distinct', () => {
    const a = lower.normalizeIdentifier('名前');
    const b = lower.normalizeIdentifier('名字');
    expect(a).toMatch(SAFE);
    expect(b).toMatch(SAFE);
    expect(a).not.toBe(b);
    expect(a).toBe(`_${identifierHash('名前', 6)}`);
    const rocket = lower.normalizeIdentifier('🚀launch');
    const fire = lower.normalizeIdentifier('🔥launch');
    expect(rocket).toMatch(/^_launch_[a-z2-7]{6}$/);
    expect(rocket).not.toBe(fire);
    expect(lower.normalizeIdentifier('price€')).toMatch(/^price_[a-z2-7]{6}$/);
    // diacritics are not "dropped": they normalize away without a hash
    expect(lower.normalizeIdentifier('naïve')).toBe('naive');
  });

  it('gives empty names a hash', () => {
    const out = lower.normalizeIdentifier('');
    expect(out).toMatch(/^_[a-z2-7]{6}$/);
  });

  it('is deterministic across instances', () => {
    const other = new NamingConvention({ maxIdentifierLength: 63, identifierCase: 'lower' });
    for (const name of ['名前', '🚀launch', 'x'.repeat(300), 'fooBar']) {
      expect(other.normalizeIdentifier(name)).toBe(lower.normalizeIdentifier(name));
    }
  });

  it('shortens 300 characters to the limit with a stable hash', () => {
    const long = 'a'.repeat(150) + 'b'.repeat(150);
    const out = lower.normalizeIdentifier(long);
    expect(out).toHaveLength(63);
    expect(out).toMatch(SAFE);
    expect(out.startsWith('aaaa')).toBe(true);
    expect(out.endsWith('bbbb')).toBe(true);
    expect(out).toBe(lower.normalizeIdentifier(long));
    // a name differing only in the middle stays distinct
    const other = 'a'.repeat(149) + 'c' + 'b'.repeat(150);
    expect(lower.normalizeIdentifier(other)).not.toBe(out);
  });
});

describe('NamingConvention.shorten / joinPath', () => {
  it('is idempotent', () => {
    expect(lower.shorten('short')).toBe('short');
    const once = lower.shorten('x'.repeat(100));
    expect(once).toHaveLength(63);
    expect(lower.shorten(once)).toBe(once);
  });

  it('joins with __ and shortens the whole path', () => {
    expect(lower.joinPath('user', 'login')).toBe('user__login');
    const parts = Array.from({ length: 10 }, (_, i) => `component_${i}`);
    const joined = lower.joinPath(...parts);
    expect(joined).toHaveLength(63);
    expect(joined.startsWith('component_0__component_1')).toBe(true);
    expect(joined.endsWith('component_9')).toBe(true);
  });

  it('uses an upper-case hash for upper-case destinations', () => {
    const small = new NamingConvention({ maxIdentifierLength: 30, identifierCase: 'upper' });
    expect(small.normalizeIdentifier('a'.repeat(40))).toMatch(/^[A-Z0-9_]{30}$/);
  });

  it('refuses a limit too small to hold the hash', () => {
    expect(() => new NamingConvention({ maxIdentifierLength: 5, identifierCase: 'lower' })).toThrow(
      RangeError,
    );
  });
});
