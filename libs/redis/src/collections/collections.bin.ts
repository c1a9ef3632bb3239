#!/usr/bin/env node
// The package's `nestjs-redis-kit` command (see collections.cli.ts for what it does).
import { runCli } from './collections.cli.js';

process.exitCode = await runCli(process.argv.slice(2));
