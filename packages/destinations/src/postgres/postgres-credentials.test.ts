import { describe, expect, it } from 'vitest';
import { redact, resolvePostgresSettings } from './postgres-credentials.ts';

describe('resolvePostgresSettings', () => {
  it('a connection string: display without the password, secrets cover raw, encoded and the whole string', () => {
    const url = 'postgresql://loader:p%40ss%2Fw0rd@db.internal:6543/warehouse?sslmode=require';
    const s = resolvePostgresSettings({ credentials: url }, {});
    expect(s.display).toBe('postgres://loader@db.internal:6543/warehouse');
    expect(s.clientConfig.connectionString).toBe(url);
    const text = `failed ${url} with p@ss/w0rd and p%40ss%2Fw0rd`;
    expect(redact(text, s.secrets)).toBe('failed *** with *** and ***');
  });

  it('fields fill their gaps from PG* variables; the password is a secret', () => {
    const s = resolvePostgresSettings(
      { credentials: { host: 'h', password: 'pw-123' } },
      { PGUSER: 'u', PGPORT: '5433', PGDATABASE: 'd' },
    );
    expect(s.display).toBe('postgres://u@h:5433/d');
    expect(s.clientConfig).toMatchObject({
      host: 'h',
      port: 5433,
      user: 'u',
      database: 'd',
      password: 'pw-123',
    });
    expect(redact('pw-123!', s.secrets)).toBe('***!');
  });

  it('falls back to DATABASE_URL, then to the libpq variables', () => {
    expect(resolvePostgresSettings({}, { DATABASE_URL: 'postgres://a:b@x:1/y' }).display).toBe(
      'postgres://a@x:1/y',
    );
    const s = resolvePostgresSettings({}, { PGHOST: 'pghost', PGUSER: 'pguser', PGPASSWORD: 'envpw' });
    expect(s.display).toBe('postgres://pguser@pghost:5432/pguser');
    expect(s.secrets).toContain('envpw');
  });

  it('a keyword connection string is never shown, and its password is scrubbed', () => {
    const s = resolvePostgresSettings({ credentials: 'host=h user=u password=kw-secret dbname=d' }, {});
    expect(s.display).toBe('postgres://(connection string)');
    expect(redact('auth kw-secret failed', s.secrets)).toBe('auth *** failed');
  });

  it('the connect timeout defaults to 15 s and sessions run in UTC', () => {
    const s = resolvePostgresSettings({ credentials: 'postgres://u@h/d' }, {});
    expect(s.clientConfig.connectionTimeoutMillis).toBe(15_000);
    expect(s.clientConfig.options).toBe('-c TimeZone=UTC');
  });
});
