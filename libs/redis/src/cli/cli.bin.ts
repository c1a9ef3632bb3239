#!/usr/bin/env node
// The package's `nestjs-redis-kit` command (see migrate.cli.ts for what it does).
import { runCli } from './migrate.cli.js';

process.exitCode = await runCli(process.argv.slice(2));
