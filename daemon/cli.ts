#!/usr/bin/env -S node --max-semi-space-size=1 --single-threaded-gc
/**
 * The `mycel` command. Every subcommand but `init`, `id`, `keygen`, `genesis`
 * and `agent` talks to a local agent's admin API (`--api`). The commands,
 * their one-line errors and exit codes (0 ok, 1 runtime failure, 2 bad usage
 * or configuration): cli/program.ts and cli/exit-codes.ts.
 */
import './polyfill.js'
import { runCli } from './cli/program.js'
import { guardOutput } from './cli/output.js'

guardOutput()

const code = await runCli(process.argv.slice(2))
// On success the process ends by itself (or, for `mycel agent`, runs on).
if (code !== 0) process.exit(code)
