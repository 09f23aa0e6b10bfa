#!/usr/bin/env -S node --max-semi-space-size=1 --single-threaded-gc
/**
 * The `mycel` command. Every subcommand but `init`, `id`, `keygen`, `genesis`
 * and `agent` talks to a local agent's admin API (`--api`). The commands,
 * their one-line errors and exit codes (0 ok, 1 runtime failure, 2 bad usage
 * or configuration): cli/program.ts and cli/exit-codes.ts.
 *
 * `mycel agent` starts from the agent's CommonJS bundle and the V8 code cache
 * the build made for it when this node can use them (code-cache.ts); every
 * other command, and the agent without them, loads the ES module bundle.
 */
import './polyfill.js'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startFromCodeCache } from './code-cache.js'

const argv = process.argv.slice(2)
// This file is the build's entry, dist/daemon/cli.js; the bundles are under dist/daemon/bundle/.
if (!startFromCodeCache(argv, join(dirname(fileURLToPath(import.meta.url)), 'bundle'))) await (await import('./cli-main.js')).main(argv)
