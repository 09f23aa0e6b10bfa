#!/usr/bin/env node
/**
 * Local testground runner CLI: `npm run testground -- run <composition.toml>`.
 * Exit codes: 0 outcome success, 1 outcome failure, 2 bad input or host setup, 130 canceled.
 */
import '../../daemon/polyfill.js'
import { resolve } from 'node:path'
import { Command, Option } from 'commander'
import { loadComposition, prepareRun } from './composition.js'
import { loadManifest } from './manifest.js'
import { cleanupStale } from './netns.js'
import { parseGoDuration } from './params.js'
import { DEFAULT_MYCEL_CLI, DEFAULT_SUBNET, runComposition } from './run.js'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'

const INPUT_ERRORS = new Set(['ManifestError', 'CompositionError', 'ParamError', 'HostSetupError'])

function log (msg: string): void {
  process.stderr.write(`${new Date().toISOString()} ${msg}\n`)
}

function defaultOutputs (): string {
  const home = process.env.TESTGROUND_HOME
  return home !== undefined && home !== '' ? join(home, 'data/outputs/local_netns') : resolve('.testground-runs')
}

const program = new Command('testground-local')
  .description('Runs testground plans on this machine: one network namespace per instance, a testground-compatible sync service, routes, nftables and htb for network rules and shaping')

program.command('run')
  .description('run a composition')
  .argument('<composition>', 'composition TOML (e.g. testground/plans/mycel/_compositions/join-5.toml)')
  .option('--no-netns', 'run every instance on loopback without namespaces (TEST_SIDECAR=false, no root needed)')
  .option('--subnet <cidr>', `TEST_SUBNET; the bridge takes its first address (default: the first free /16 from ${DEFAULT_SUBNET} up)`)
  .option('--outputs-dir <dir>', 'outputs root; instances write to <dir>/<plan>/<run>/<group>/<n>', defaultOutputs())
  .option('--result-file <file>', 'also write the result JSON here')
  .option('--concurrency <n>', 'instances started at once', '8')
  .addOption(new Option('--timeout <duration>', 'whole-run timeout (Go duration; default run_timeout_min or 10m)'))
  .option('--start-slot <duration>', 'how long one start slot waits for an instance to report start_event', '30s')
  .option('--run-id <id>', 'which [[runs]] entry of the composition to run')
  .option('--plan-dir <dir>', 'plan directory (default: the composition\'s parent)')
  .option('--mycel-cli <file>', 'mycel CLI passed to instances as MYCEL_CLI', DEFAULT_MYCEL_CLI)
  .option('--keep-temp', 'keep TEST_TEMP_PATH directories (agent data dirs) after the run')
  .option('--snapshot-dist', 'copy the mycel dist tree first, so rebuilds during the run do not affect it')
  .action(async (composition: string, o: Record<string, any>) => {
    const ac = new AbortController()
    let interrupts = 0
    const onSignal = (sig: string): void => {
      interrupts++
      if (interrupts === 1) {
        log(`${sig}: stopping instances and cleaning up (namespaces, bridge, temp dirs)…`)
        ac.abort(new Error(sig))
      } else {
        log('still cleaning up; `npm run testground -- cleanup` removes leftovers if you kill this process')
      }
    }
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
    const concurrency = Number(o.concurrency)
    if (!Number.isInteger(concurrency) || concurrency < 1) throw Object.assign(new Error('--concurrency must be a positive integer'), { name: 'CompositionError' })
    const result = await runComposition({
      compositionPath: resolve(composition),
      planDir: o.planDir === undefined ? undefined : resolve(o.planDir),
      runId: o.runId,
      netns: o.netns !== false,
      subnet: o.subnet,
      outputsRoot: resolve(o.outputsDir),
      resultFile: o.resultFile === undefined ? undefined : resolve(o.resultFile),
      startConcurrency: concurrency,
      timeoutMs: o.timeout === undefined ? undefined : parseGoDuration(o.timeout),
      startSlotMs: parseGoDuration(o.startSlot),
      mycelCli: resolve(o.mycelCli),
      keepTemp: o.keepTemp === true,
      snapshotDist: o.snapshotDist === true,
      log,
      signal: ac.signal
    })
    process.exitCode = result.outcome === 'success' ? 0 : result.outcome === 'canceled' ? 130 : 1
  })

program.command('validate')
  .description('check a composition against its plan and print the resolved groups and parameters')
  .argument('<composition>')
  .option('--run-id <id>')
  .option('--plan-dir <dir>')
  .action(async (composition: string, o: Record<string, any>) => {
    const c = await loadComposition(resolve(composition))
    const planDir = o.planDir !== undefined ? resolve(o.planDir) : resolve(dirname(resolve(composition)), '..')
    if (!existsSync(join(planDir, 'manifest.toml'))) throw Object.assign(new Error(`no manifest.toml in ${planDir}; pass --plan-dir`), { name: 'CompositionError' })
    const m = await loadManifest(join(planDir, 'manifest.toml'))
    process.stdout.write(JSON.stringify(prepareRun(c, m, { runId: o.runId }), null, 2) + '\n')
  })

program.command('cleanup')
  .description('remove namespaces, veths and bridges left behind by a runner that was killed')
  .action(async () => {
    const removed = await cleanupStale()
    log(removed.length === 0 ? 'nothing to clean up' : `removed: ${removed.join(', ')}`)
  })

program.parseAsync(process.argv).catch((err: Error) => {
  log(`error: ${err.message}`)
  process.exitCode = INPUT_ERRORS.has(err.name) ? 2 : 1
})
