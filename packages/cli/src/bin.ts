#!/usr/bin/env node
import { main } from './cli.ts';

// Exit codes are documented in exit-codes.ts and `ferry --help`. `process.exitCode` (not `exit()`) lets
// stdout drain, so the last JSON line is never cut off in a container log.
process.exitCode = await main(process.argv.slice(2));
