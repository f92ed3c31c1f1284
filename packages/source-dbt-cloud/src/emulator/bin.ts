#!/usr/bin/env node
/**
 * `dbt-cloud-emulator`: run the dbt Cloud API emulator from the command line, e.g.
 * `dbt-cloud-emulator --port 8089 --runs 1000 --latency-ms 50 --seed 7`. Prints the base URL, token and
 * account id as one JSON line, then serves until SIGINT/SIGTERM.
 */
import { parseArgs } from 'node:util';
import { startEmulator } from './emulator-server.ts';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '8089' },
    host: { type: 'string', default: '127.0.0.1' },
    runs: { type: 'string', default: '250' },
    'in-flight': { type: 'string', default: '3' },
    projects: { type: 'string', default: '2' },
    'latency-ms': { type: 'string', default: '0' },
    'rate-limit': { type: 'string' },
    seed: { type: 'string', default: '1' },
    token: { type: 'string', default: 'dbtc_emulator_token' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (values.help) {
  process.stdout.write(
    'Usage: dbt-cloud-emulator [--port 8089] [--host 127.0.0.1] [--runs 250] [--in-flight 3] [--projects 2]\n' +
      '                          [--latency-ms 0] [--rate-limit <requests/minute>] [--seed 1] [--token T]\n',
  );
  process.exit(0);
}

const int = (name: string, text: string | undefined): number | undefined => {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) {
    process.stderr.write(`dbt-cloud-emulator: --${name} must be a non-negative integer, got '${text}'\n`);
    process.exit(2);
  }
  return n;
};

const emulator = await startEmulator({
  port: int('port', values.port),
  host: values.host,
  runs: int('runs', values.runs),
  inFlightRuns: int('in-flight', values['in-flight']),
  projects: int('projects', values.projects),
  latencyMs: int('latency-ms', values['latency-ms']),
  rateLimitPerMinute: int('rate-limit', values['rate-limit']),
  seed: int('seed', values.seed),
  token: values.token,
});
process.stdout.write(
  `${JSON.stringify({ url: emulator.url, token: emulator.token, accountId: emulator.accountId })}\n`,
);
const stop = (): void => {
  void emulator.close().then(() => process.exit(0));
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
