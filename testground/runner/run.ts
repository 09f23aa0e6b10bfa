/**
 * Runs one composition end to end: check everything, set up the network, start the sync service and
 * the instances (in bounded batches), play the sidecar, wait for outcomes, and always clean up.
 *
 * Order of start: parse + validate (nothing touched yet) → bridge → sync service on the bridge's
 * address → namespaces → instances, `startConcurrency` at a time, each slot released when the sdk
 * reports start_event. Order of stop: instances (TERM, then KILL after a grace period) → sidecar →
 * sync service → namespaces and bridge → temp dirs. The stop path runs on success, failure, timeout,
 * and abort (Ctrl-C).
 */
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { cp, mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, isAbsolute, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { loadComposition, prepareRun, type PreparedRun } from './composition.js'
import { loadManifest } from './manifest.js'
import { CompositionError } from './errors.js'
import { mapLimit } from './exec.js'
import { Instance, sampleRss } from './instance.js'
import { NetnsManager, claimSubnet, parseCidr, planAddresses } from './netns.js'
import { buildResult, outcomeLine, readInstanceMetrics, type EventCounts, type RunResult } from './outcome.js'
import { packParams } from './params.js'
import { Sidecar } from './sidecar.js'
import { SyncService, eventsKey, runPrefix } from './sync-service.js'

export interface RunOptions {
  compositionPath: string
  /** Defaults to the composition's parent if it holds manifest.toml, else testground/plans/<plan>. */
  planDir?: string
  /** [[runs]] entry to use */
  runId?: string
  netns: boolean
  /** TEST_SUBNET; by default a free /16 from 16.0.0.0/16 upwards (namespaces) or 16.0.0.0/16 (loopback) */
  subnet?: string
  outputsRoot: string
  resultFile?: string
  startConcurrency: number
  timeoutMs?: number
  /** how long a started instance may take to report start_event before its slot is released anyway */
  startSlotMs: number
  mycelCli: string
  keepTemp: boolean
  /**
   * Copy the mycel CLI's dist tree to the run's temp dir first, so a rebuild of the shared working
   * tree during a long run cannot change the code instances start.
   */
  snapshotDist?: boolean
  log: (msg: string) => void
  signal?: AbortSignal
}

const HERE = dirname(fileURLToPath(import.meta.url))
/** repo root from dist/testground/runner or testground/runner */
export const REPO_ROOT = resolve(HERE, HERE.includes(`${'/'}dist${'/'}`) ? '../../..' : '../..')
export const DEFAULT_MYCEL_CLI = join(REPO_ROOT, 'dist/daemon/cli.js')
/** testground's own default data subnet */
export const DEFAULT_SUBNET = '16.0.0.0/16'
/** time allowed between SIGTERM and SIGKILL when stopping instances */
const KILL_GRACE_MS = 5_000
/** RSS sampling interval */
const RSS_SAMPLE_MS = 1_000
const DEFAULT_TIMEOUT_MS = 10 * 60_000

async function findPlanDir (compositionPath: string, plan: string, explicit?: string): Promise<string> {
  const candidates = explicit !== undefined
    ? [explicit]
    : [resolve(dirname(compositionPath), '..'), resolve(dirname(compositionPath)), join(REPO_ROOT, 'testground/plans', plan)]
  for (const c of candidates) if (existsSync(join(c, 'manifest.toml'))) return c
  throw new CompositionError(`cannot find plan "${plan}" (looked for manifest.toml in ${candidates.join(', ')}); pass --plan-dir`)
}

/** The instance command: `node <file>` start scripts run node directly (no npm process per instance). */
async function planCommand (planDir: string): Promise<string[]> {
  let pkg: { scripts?: { start?: string } }
  try {
    pkg = JSON.parse(await readFile(join(planDir, 'package.json'), 'utf8'))
  } catch (err) {
    throw new CompositionError(`plan ${planDir}: cannot read package.json: ${(err as Error).message}`)
  }
  const start = pkg.scripts?.start
  if (typeof start !== 'string' || start.trim() === '') throw new CompositionError(`plan ${planDir}: package.json has no "start" script (docker:node runs \`npm start\`)`)
  const m = /^node\s+(\S+)((?:\s+\S+)*)$/.exec(start.trim())
  if (m !== null) return [process.execPath, isAbsolute(m[1]) ? m[1] : join(planDir, m[1]), ...m[2].split(/\s+/).filter(Boolean)]
  return ['sh', '-c', `cd "$PLAN_DIR" && ${start}`]
}

/**
 * Copies the dist tree holding `cli` (…/dist/daemon/cli.js) to `dir`, with links to the package's
 * package.json and node_modules so module resolution still works. Returns the copied CLI's path.
 */
async function snapshotCli (cli: string, dir: string): Promise<string> {
  const dist = resolve(dirname(cli), '..')
  const pkgRoot = resolve(dist, '..')
  await mkdir(dir, { recursive: true })
  await cp(dist, join(dir, 'dist'), { recursive: true })
  await symlink(join(pkgRoot, 'node_modules'), join(dir, 'node_modules'))
  await cp(join(pkgRoot, 'package.json'), join(dir, 'package.json'))
  return join(dir, 'dist', dirname(cli).slice(dist.length + 1), 'cli.js')
}

function runTimeout (prepared: PreparedRun, opts: RunOptions): number {
  if (opts.timeoutMs !== undefined) return opts.timeoutMs
  const min = prepared.runConfig.run_timeout_min
  return typeof min === 'number' && min > 0 ? min * 60_000 : DEFAULT_TIMEOUT_MS
}

export async function runComposition (opts: RunOptions): Promise<RunResult> {
  const log = opts.log
  // 1. Everything that can be wrong with the input fails here, before anything is touched.
  const composition = await loadComposition(opts.compositionPath)
  const planDir = await findPlanDir(opts.compositionPath, composition.global.plan, opts.planDir)
  const manifest = await loadManifest(join(planDir, 'manifest.toml'))
  const prepared = prepareRun(composition, manifest, { runId: opts.runId })
  const argv = await planCommand(planDir)
  let subnetCidr = opts.subnet ?? DEFAULT_SUBNET
  planAddresses(parseCidr(subnetCidr), prepared.totalInstances) // a too small --subnet fails here, early
  let releaseSubnet = async (): Promise<void> => {}
  if (opts.netns && opts.subnet === undefined) ({ cidr: subnetCidr, release: releaseSubnet } = await claimSubnet())
  const subnet = parseCidr(subnetCidr)
  const { gateway, addrs } = planAddresses(subnet, prepared.totalInstances)
  if (!existsSync(opts.mycelCli)) log(`warning: ${opts.mycelCli} does not exist (run \`npm run build\`); plans fall back to \`mycel\` on PATH`)

  const runId = randomBytes(10).toString('hex')
  const tag = runId.slice(0, 6)
  const prefix = runPrefix(runId, prepared.plan, prepared.case)
  const outDir = join(opts.outputsRoot, prepared.plan, runId)
  const tmpRoot = join(tmpdir(), `tg-${runId}`)
  const startedAt = Date.now()
  log(`run ${runId}: plan ${prepared.plan}, case ${prepared.case}, ${prepared.totalInstances} instances (${prepared.groups.map(g => `${g.id}:${g.instances}`).join(' ')}), ${opts.netns ? `namespaces on ${subnetCidr}` : 'loopback (no namespaces)'}`)

  const sync = new SyncService()
  const net = opts.netns ? new NetnsManager(tag, subnet, gateway) : undefined
  let sidecar: Sidecar | undefined
  const instances: Instance[] = []
  const events: Record<string, EventCounts> = {}
  let canceled = false
  let cleanupProblems: string[] = []
  let rssTimer: NodeJS.Timeout | undefined
  let mycelCli = opts.mycelCli
  if (opts.snapshotDist === true && existsSync(opts.mycelCli)) {
    mycelCli = await snapshotCli(opts.mycelCli, join(tmpRoot, 'mycel'))
    log(`mycel CLI snapshot: ${mycelCli}`)
  }
  const abort = (): void => { canceled = true; for (const i of instances) i.fail('timeout', 'run canceled') }
  opts.signal?.addEventListener('abort', abort, { once: true })

  try {
    if (net !== undefined) {
      await net.preflight()
      const raised = await net.sizeNeighbourTable(prepared.totalInstances)
      if (raised !== undefined) log(raised)
      await net.createBridge()
    }
    const syncHost = net !== undefined ? gateway : '127.0.0.1'
    const syncPort = await sync.listen(syncHost, 0)
    sync.subscribe(eventsKey(prefix), json => {
      let ev: Record<string, { group?: string, runenv?: { group?: string } }>
      try { ev = JSON.parse(json) } catch { return }
      for (const [k, v] of Object.entries(ev ?? {})) {
        const kind = k.replace(/_event$/, '') as keyof EventCounts
        if (!['start', 'success', 'failure', 'crash', 'message'].includes(kind)) continue
        // start events carry the group inside runenv; message events carry none.
        const g = v?.group ?? v?.runenv?.group ?? '(no group)'
        events[g] ??= { start: 0, success: 0, failure: 0, crash: 0, message: 0 }
        events[g][kind]++
      }
    })
    if (net !== undefined) {
      sidecar = new Sidecar(sync, prefix, { gateway, syncPort, subnet: subnetCidr }, { info: log, warn: log })
    }

    const startTime = new Date().toISOString()
    let index = 0
    for (const g of prepared.groups) {
      for (let j = 0; j < g.instances; j++, index++) {
        const outputsDir = join(outDir, g.id, String(j))
        const tempDir = join(tmpRoot, String(index))
        await mkdir(outputsDir, { recursive: true })
        await mkdir(tempDir, { recursive: true })
        const hostname = `tg-${tag}-${index}`
        instances.push(new Instance({
          index, group: g.id, groupIndex: j, hostname,
          ip: net !== undefined ? addrs[index] : '127.0.0.1',
          netns: net !== undefined ? `tg-${tag}-${index}` : undefined,
          outputsDir, tempDir,
          env: {
            PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
            HOME: process.env.HOME ?? '/root',
            LANG: process.env.LANG ?? 'C.UTF-8',
            HOSTNAME: hostname,
            LOG_LEVEL: 'info',
            PLAN_DIR: planDir,
            TEST_PLAN: prepared.plan,
            TEST_CASE: prepared.case,
            TEST_RUN: runId,
            TEST_REPO: '', TEST_BRANCH: '', TEST_TAG: '',
            TEST_INSTANCE_COUNT: String(prepared.totalInstances),
            TEST_INSTANCE_ROLE: '',
            TEST_INSTANCE_PARAMS: packParams(g.params),
            TEST_GROUP_ID: g.id,
            TEST_GROUP_INSTANCE_COUNT: String(g.instances),
            TEST_SIDECAR: String(net !== undefined),
            TEST_SUBNET: subnetCidr,
            TEST_START_TIME: startTime,
            TEST_OUTPUTS_PATH: outputsDir,
            TEST_TEMP_PATH: tempDir,
            TEST_CAPTURE_PROFILES: '',
            TEST_DISABLE_METRICS: 'true',
            SYNC_SERVICE_HOST: syncHost,
            SYNC_SERVICE_PORT: String(syncPort),
            INFLUXDB_URL: '',
            // Not a testground variable: where the plan finds the mycel CLI (see docs/testground.md).
            MYCEL_CLI: mycelCli
          }
        }))
      }
    }

    if (net !== undefined) {
      log(`creating ${instances.length} network namespaces`)
      await mapLimit(instances, 8, async inst => {
        if (canceled) return
        await net.createInstance(inst.spec.index, inst.spec.ip)
        await sidecar?.prepare(inst)
      })
    }

    rssTimer = setInterval(() => {
      const live = new Map(instances.filter(i => i.running && i.pid !== undefined).map(i => [i.pid as number, i]))
      void sampleRss(new Set(live.keys())).then(m => {
        for (const [pgid, sample] of m) {
          const inst = live.get(pgid)
          if (inst === undefined || !inst.running) continue
          inst.lastRss = sample.rss
          inst.peakRss = Math.max(inst.peakRss, sample.rss)
          for (const [pid, ticks] of sample.cpuTicks) inst.cpuTicks.set(pid, ticks)
        }
      })
    }, RSS_SAMPLE_MS)

    const deadline = Date.now() + runTimeout(prepared, opts)
    const timeout = setTimeout(() => {
      log('run timeout reached; stopping the instances still running')
      for (const i of instances) i.fail('timeout', 'run timeout reached while the instance was still running')
    }, Math.max(0, deadline - Date.now()))
    try {
      log(`starting instances, ${opts.startConcurrency} at a time`)
      await mapLimit(instances, opts.startConcurrency, async inst => {
        if (canceled || Date.now() > deadline) return
        inst.start(argv, inst.spec.tempDir)
        sidecar?.attach(inst)
        await Promise.race([inst.whenStarted(), new Promise(resolve => setTimeout(resolve, opts.startSlotMs).unref())])
      })
      log('all instances started; waiting for outcomes')
      await Promise.all(instances.map(async i => { if (i.pid !== undefined) await i.whenExited() }))
    } finally {
      clearTimeout(timeout)
    }
  } finally {
    // Stop order: instances → sidecar → sync service → network → temp dirs.
    clearInterval(rssTimer)
    const live = instances.filter(i => i.running)
    for (const i of live) i.kill('SIGTERM')
    if (live.length > 0) {
      await Promise.race([Promise.all(live.map(async i => { await i.whenExited() })), new Promise(resolve => setTimeout(resolve, KILL_GRACE_MS))])
      for (const i of live) i.kill('SIGKILL')
      await Promise.race([Promise.all(live.map(async i => { await i.whenExited() })), new Promise(resolve => setTimeout(resolve, KILL_GRACE_MS))])
    }
    sidecar?.stop()
    await sync.close()
    if (net !== undefined) cleanupProblems = await net.destroy()
    await releaseSubnet()
    if (!opts.keepTemp) await rm(tmpRoot, { recursive: true, force: true })
    opts.signal?.removeEventListener('abort', abort)
  }

  const summaries = await Promise.all(instances.map(async i => ({ ...i.summary(), metrics: await readInstanceMetrics(i.spec.outputsDir) })))
  const result = buildResult({
    runId, prepared, mode: net !== undefined ? 'netns' : 'loopback', canceled, startedAt,
    instances: summaries, events, network: { applied: sidecar?.applied ?? 0, refused: sidecar?.refused ?? 0 }, cleanupProblems
  })
  for (const i of summaries.filter(s => s.status !== 'success')) {
    log(`instance ${i.group}/${i.groupIndex} (${i.hostname}): ${i.status}${i.error !== undefined ? `: ${i.error}` : ''}`)
  }
  for (const p of cleanupProblems) log(`cleanup problem: ${p}`)
  const json = JSON.stringify(result, null, 2) + '\n'
  await writeFile(join(outDir, 'result.json'), json)
  if (opts.resultFile !== undefined) {
    await mkdir(dirname(opts.resultFile), { recursive: true })
    await writeFile(opts.resultFile, json)
  }
  log(`outputs: ${outDir}`)
  log(outcomeLine(result))
  return result
}
