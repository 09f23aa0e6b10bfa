#!/usr/bin/env node
/**
 * `mycel-launcher <the agent's arguments>`: the minimal core that
 * deploy/mycel.service runs. It starts `mycel agent <arguments>` from the
 * good core build (at first the install it ships with) and tries a new
 * build the agent asks for, returning to the good one on its own when the
 * new one does not become ready (launcher/run.ts; docs/core-update.md).
 *
 * It stays small and changes rarely: Node's built-ins only, nothing of the
 * agent's, so a core update never replaces it and a broken agent build
 * cannot break it. `--data-dir` must be on the command line (the launcher
 * keeps its state there and reads no config file).
 *
 * Exit codes: the agent's own (0 after a stop, its crash code: systemd
 * restarts the unit), 2 when the launcher cannot run (no --data-dir, a
 * damaged state file: restarting cannot fix either).
 */
import { readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Launcher, type LauncherLog } from './run.js'
import { CoreStateCorruptError } from './state-file.js'
import { dataDirOf, profileOf } from './args.js'
import { LAUNCHER_PROFILES } from './tunables.js'

const EXIT_FAILURE = 1
const EXIT_USAGE = 2
/** pino's level numbers, so the agent's and the launcher's lines read alike in the journal. */
const LEVELS = { info: 30, warn: 40, error: 50 }

const log: LauncherLog = (level, msg, fields = {}) => {
  process.stderr.write(`${JSON.stringify({ level: LEVELS[level], time: new Date().toISOString(), pid: process.pid, component: 'launcher', ...fields, msg })}\n`)
}

async function main (args: string[]): Promise<number> {
  const dataDir = dataDirOf(args)
  if (dataDir === undefined || dataDir === '') {
    process.stderr.write('mycel-launcher: --data-dir DIR is required (the launcher keeps its state there); the other arguments are the agent\'s (mycel agent --help)\n')
    return EXIT_USAGE
  }
  // This file is <root>/dist/launcher/main.js: the base install is <root>.
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
  const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version
  const launcher = new Launcher({ dataDir: resolve(dataDir), args, base: { root, version }, tunables: LAUNCHER_PROFILES[profileOf(args)], log })
  process.on('SIGTERM', () => { launcher.stop('SIGTERM') })
  process.on('SIGINT', () => { launcher.stop('SIGINT') })
  try {
    return await launcher.run()
  } catch (err) {
    if (err instanceof CoreStateCorruptError) {
      log('error', `launcher state damaged: ${err.message}; ${err.recovery}`, { file: err.file })
      process.stderr.write(`mycel-launcher: ${err.message} (${err.recovery})\n`)
      return EXIT_USAGE
    }
    log('error', `launcher failed: ${(err as Error).message}`)
    return EXIT_FAILURE
  }
}

process.exit(await main(process.argv.slice(2)))
