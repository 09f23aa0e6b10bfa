/**
 * `mycel rollout start|status|pause|resume|abort|rollback|promote`: staged,
 * health-gated updates of a component (docs/rollouts.md) through a local
 * agent's admin API (routes/rollouts.ts).
 *
 * `start` checks its arguments with the same schema the agent runs
 * (managers/rollout/request.ts), so a bad NAME@VERSION, duration or knob
 * exits 2 with one line naming the flag before the agent is contacted; what
 * only the agent can judge (no deployment, an open rollout, an untrusted or
 * unreachable release, incompatible nodes) exits 1 with the agent's line.
 * On success it prints only the rollout id, so scripts can capture it.
 */
import { InvalidArgumentError, type Command } from 'commander'
import { apiClient, type ApiFlags } from './client.js'
import { apiOption, tokenFileOption, parseRegion } from './options.js'
import { ago, print, printJson } from './output.js'
import { UsageError } from '../errors.js'
import { parseDurationKnob, parseMaxParallel, parseStartRequest, type StartRequest } from '../../managers/rollout/request.js'
import { CONTROL_VERBS } from '../../managers/rollout/control.js'
import type { RolloutView } from '../../managers/rollout/view.js'
import type { MaxParallel } from '../../managers/rollout/record.js'

export interface StartArgs {
  region?: string[]
  canary?: number
  maxParallel?: MaxParallel
  minHealthyTime?: number
  healthyDeadline?: number
  progressDeadline?: number
  maxUnavailable?: number
  autoRevert?: boolean
}

/** Request fields as the flags that set them, so a refusal names what the operator typed. */
const FLAGS: Record<string, string> = {
  component: 'NAME',
  version: 'VERSION',
  regions: '--region',
  canary: '--canary',
  maxParallel: '--max-parallel',
  minHealthyTimeMs: '--min-healthy-time',
  healthyDeadlineMs: '--healthy-deadline',
  progressDeadlineMs: '--progress-deadline',
  maxUnavailable: '--max-unavailable'
}

/** `NAME@VERSION` and the flags → the start request, or UsageError (exit 2) naming the flag. */
export function startRequestFromArgs (ref: string, opts: StartArgs): StartRequest {
  const at = ref.indexOf('@')
  if (at <= 0 || at === ref.length - 1) throw new UsageError(`expected NAME@VERSION (e.g. web@1.2.0), got ${JSON.stringify(ref.slice(0, 80))}`)
  const input = {
    component: ref.slice(0, at),
    version: ref.slice(at + 1),
    ...(opts.region !== undefined ? { regions: opts.region } : {}),
    ...(opts.canary !== undefined ? { canary: opts.canary } : {}),
    ...(opts.maxParallel !== undefined ? { maxParallel: opts.maxParallel } : {}),
    ...(opts.minHealthyTime !== undefined ? { minHealthyTimeMs: opts.minHealthyTime } : {}),
    ...(opts.healthyDeadline !== undefined ? { healthyDeadlineMs: opts.healthyDeadline } : {}),
    ...(opts.progressDeadline !== undefined ? { progressDeadlineMs: opts.progressDeadline } : {}),
    ...(opts.maxUnavailable !== undefined ? { maxUnavailable: opts.maxUnavailable } : {}),
    ...(opts.autoRevert !== undefined ? { autoRevert: opts.autoRevert } : {})
  }
  try {
    return parseStartRequest(input)
  } catch (err) {
    // "invalid rollout request: maxParallel.percent: ..." → "--max-parallel: ...".
    const m = /^invalid rollout request: ([A-Za-z]+)[^:]*: (.*)$/.exec((err as Error).message)
    if (m === null) throw err
    const rest = (m[2] as string).replace(/\b[A-Za-z]+Ms\b/g, f => FLAGS[f] ?? f)
    throw new UsageError(`${FLAGS[m[1] as string] ?? m[1] as string}: ${rest}`)
  }
}

/** Commander collector for repeatable options. */
function collect (v: string, prev: string[] | undefined): string[] { return [...(prev ?? []), v] }

/** Any integer; the request schema says which are allowed. */
function parseInteger (v: string): number {
  const n = Number(v)
  if (v.trim() === '' || !Number.isInteger(n)) throw new InvalidArgumentError('expected an integer')
  return n
}

function parseDurationArg (v: string): number {
  const ms = parseDurationKnob(v)
  if (ms === undefined) throw new InvalidArgumentError('expected a duration like 500ms, 10s, 5m or 1h (at most 24h)')
  return ms
}

function parseMaxParallelArg (v: string): MaxParallel {
  const m = parseMaxParallel(v)
  if (m === undefined) throw new InvalidArgumentError('expected N nodes or P% of a region\'s nodes')
  return m
}

function idPath (id: string, verb?: string): string {
  return `/v1/rollouts/${encodeURIComponent(id)}${verb !== undefined ? `/${verb}` : ''}`
}

const VERB_DONE: Record<string, string> = { pause: 'paused', resume: 'resumed', abort: 'aborted', rollback: 'rolling back', promote: 'promoted' }
const VERB_HELP: Record<string, string> = {
  pause: 'stop assigning nodes and judging gates until resumed',
  resume: 'go on with a paused rollout (a failed one cannot be: roll it back or abort it)',
  abort: 'stop the rollout where it is, for good (nodes keep what they run)',
  rollback: 'return every touched node to the last stable version now',
  promote: 'let the canary waves pass as soon as their nodes are healthy, without waiting out min healthy time'
}

export function registerRolloutCommands (program: Command): void {
  const rollout = program.command('rollout').description('staged, health-gated updates of a component: start, watch, control')

  rollout.command('start')
    .description('roll the deployment of NAME to VERSION, region after region, in health-gated waves; prints the rollout id')
    .argument('<name@version>', 'component and the version to roll to, e.g. web@1.2.0')
    .addOption(apiOption()).addOption(tokenFileOption())
    .option('--region <region>', 'region in rollout order, the first the canary region (repeatable; default: every region the deployment runs in, sorted)', (v: string, prev: string[] | undefined) => collect(parseRegion(v), prev))
    .option('--canary <n>', 'canary nodes per region, a wave of their own first (default 0)', parseInteger)
    .option('--max-parallel <n|p%>', 'nodes per wave: N, or P% of the region\'s nodes (default 1)', parseMaxParallelArg)
    .option('--min-healthy-time <dur>', 'how long a switched node must stay healthy (default 10s)', parseDurationArg)
    .option('--healthy-deadline <dur>', 'how long a wave\'s nodes have to become healthy (default 5m)', parseDurationArg)
    .option('--progress-deadline <dur>', 'longest time without progress before the wave fails (default 10m)', parseDurationArg)
    .option('--max-unavailable <n>', 'most nodes of the component down at once in a region (default: the wave size)', parseInteger)
    .option('--auto-revert', 'on a failed gate, return touched nodes to the last stable version (default)')
    .option('--no-auto-revert', 'on a failed gate, stop and leave the rollout failed')
    .action(async (ref: string, opts: StartArgs & ApiFlags) => {
      const body = startRequestFromArgs(ref, opts)
      const r = await apiClient(opts).post<{ id: string, unchecked?: string[] }>('/v1/rollouts', body)
      const unchecked = r.unchecked?.length ?? 0
      if (unchecked > 0) process.stderr.write(`mycel: note: ${unchecked} target node(s) in other regions had only their mycel version checked (their components are not reported to this agent)\n`)
      print(`${r.id}\n`)
    })

  rollout.command('status')
    .description('show rollouts (newest first) or one: state, waves per region, and per node version, state and health')
    .argument('[id]', 'one rollout')
    .addOption(apiOption()).addOption(tokenFileOption())
    .option('--json', 'machine-readable output')
    .action(async (id: string | undefined, opts: ApiFlags & { json?: boolean }) => {
      const client = apiClient(opts)
      const views = id !== undefined ? [await client.get<RolloutView>(idPath(id))] : (await client.get<{ rollouts: RolloutView[] }>('/v1/rollouts')).rollouts
      if (opts.json === true) { printJson(id !== undefined ? views[0] : { rollouts: views }); return }
      if (views.length === 0) { print('no rollouts\n'); return }
      print(views.map(statusText).join('\n'))
    })

  for (const verb of CONTROL_VERBS) {
    rollout.command(verb)
      .description(VERB_HELP[verb] as string)
      .argument('<id>', 'the rollout id (mycel rollout status)')
      .addOption(apiOption()).addOption(tokenFileOption())
      .option('--json', 'machine-readable output')
      .action(async (id: string, opts: ApiFlags & { json?: boolean }) => {
        const r = await apiClient(opts).post<{ id: string, previous: string, rollout: RolloutView }>(idPath(id, verb), {})
        if (opts.json === true) { printJson(r); return }
        print(`rollout ${r.id} ${VERB_DONE[verb] as string} (was ${r.previous}, now ${r.rollout.state})\n`)
      })
  }
}

/** One rollout for people: a line for the rollout, then per region its waves, then per node. */
export function statusText (v: RolloutView): string {
  const active = v.wave !== null ? `, wave ${v.wave + 1}/${v.waves.length}` : ''
  const lines = [`${v.id}  ${v.component} ${v.from} -> ${v.to}  ${v.state}${active}  (last stable ${v.lastStable}, started ${ago(v.createdAt)} ago${v.control.promoted ? ', promoted' : ''})`]
  if (v.failure !== undefined) lines.push(`  failed: ${v.failure.region} wave ${v.failure.wave + 1}: ${v.failure.reason}: ${v.failure.detail}`)
  // An emergency freeze stops the update manager that moves it (daemon/api/routes/emergency.ts withFreezeHold).
  const held = (v as RolloutView & { held?: { scope: string, reason: string, by: string, at: number } }).held
  if (held !== undefined) lines.push(`  held by an emergency freeze (${held.scope === '*' ? 'every region' : `region ${held.scope}`}, by ${held.by}, ${ago(held.at)} ago): ${held.reason}; it resumes where it is on thaw`)
  for (const r of v.regions) {
    const waves = r.waves.map(w => `[${w.nodes.length} node${w.nodes.length === 1 ? '' : 's'}: ${w.state}]`).join(' ')
    lines.push(`  ${r.region}  ${r.state}${waves.length > 0 ? `  ${waves}` : ''}`)
  }
  const nodes = Object.entries(v.nodes)
  if (nodes.length > 0) {
    const rows = nodes.map(([peer, n]) => [peer, n.region, n.version ?? '-', n.state, n.health, n.target !== null ? `-> ${n.target}` : ''])
    const widths = rows[0]?.map((_, i) => Math.max(...rows.map(r => (r[i] as string).length))) ?? []
    for (const r of rows) lines.push(`    ${r.map((c, i) => c.padEnd(widths[i] as number)).join('  ').trimEnd()}`)
  }
  return lines.join('\n') + '\n'
}
