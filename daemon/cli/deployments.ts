/**
 * `mycel component deploy|undeploy|deployments [NAME]`: the deployment
 * records in replicated config (namespace `mycel.deployments`,
 * managers/deployment.ts) through a local agent's admin API
 * (routes/deployments.ts); with a NAME, also where the region's network
 * manager placed a counted deployment's instances (`mycel.placements`).
 *
 * Arguments are checked with the same `parseDeployment` every receiver
 * runs, so a bad name, version, count or constraint exits 2 with one line
 * before the agent is contacted. Placing and running the instances is the
 * component host's and the network manager's work (docs/components.md).
 */
import { InvalidArgumentError, type Command } from 'commander'
import { apiClient, type ApiFlags } from './client.js'
import { apiOption, tokenFileOption, parseCount } from './options.js'
import { print, printJson, printTable } from './output.js'
import { UsageError } from '../errors.js'
import { acksText, waitQuery, writeSignal, type WaitOpts, type WriteReply } from './durable-write.js'
import { parseDeployment, type Deployment } from '../../managers/deployment.js'

type Listed = Deployment & { writer: string | null }
/** GET /v1/deployments/:name: `placements` only for a counted deployment. */
type Shown = Listed & { placements?: Array<{ region: string, term: number, writer: string | null, assignments: Array<{ node: string, since: number }> }> }

export interface DeployArgs {
  region?: string[]
  count?: number
  constraint?: string[]
}

/** `NAME@VERSION` and the flags → the deployment record, or UsageError / InvalidDeploymentError (both exit 2). */
export function deploymentFromArgs (ref: string, opts: DeployArgs): Deployment {
  const at = ref.indexOf('@')
  if (at <= 0 || at === ref.length - 1) throw new UsageError(`expected NAME@VERSION (e.g. web@1.2.0), got ${JSON.stringify(ref.slice(0, 80))}`)
  const pairs: Array<[string, string]> = []
  for (const c of opts.constraint ?? []) {
    const eq = c.indexOf('=')
    if (eq <= 0) throw new UsageError(`expected --constraint KEY=VALUE, got ${JSON.stringify(c.slice(0, 80))}`)
    const key = c.slice(0, eq)
    if (pairs.some(([k]) => k === key)) throw new UsageError(`--constraint ${key} given twice`)
    pairs.push([key, c.slice(eq + 1)])
  }
  // fromEntries defines own properties: a key such as __proto__ reaches the schema (which refuses it) instead of vanishing.
  const constraints = Object.fromEntries(pairs)
  return parseDeployment({
    name: ref.slice(0, at),
    version: ref.slice(at + 1),
    ...(opts.region !== undefined ? { regions: opts.region } : {}),
    ...(opts.count !== undefined ? { count: opts.count } : {}),
    ...(opts.constraint !== undefined ? { constraints } : {})
  })
}

/** Commander collector for repeatable options. */
function collect (v: string, prev: string[] | undefined): string[] { return [...(prev ?? []), v] }

/** `--count N`: any integer here; the deployment schema says which are allowed (1 to 4,096). */
function parseInteger (v: string): number {
  const n = Number(v)
  if (v.trim() === '' || !Number.isInteger(n)) throw new InvalidArgumentError('expected an integer')
  return n
}

function namePath (name: string, opts: WaitOpts = {}): string {
  return `/v1/deployments/${encodeURIComponent(name)}${waitQuery(opts)}`
}

/** Adds deploy, undeploy and deployments to the `component` command group. */
export function registerDeploymentCommands (component: Command): void {
  component.command('deploy')
    .description('ask for NAME@VERSION to run (every eligible node, or --count per region); returns once durable on this agent')
    .argument('<name@version>', 'component and semver version, e.g. web@1.2.0')
    .addOption(apiOption()).addOption(tokenFileOption())
    .option('--region <region>', 'run only in this region (repeatable; default: every region)', collect)
    .option('--count <n>', 'instances per region (default: one on every eligible node)', parseInteger)
    .option('--constraint <key=value>', 'node label an eligible node must carry (repeatable)', collect)
    .option('--wait-for <n>', 'also wait until N other members hold the record durably', parseCount)
    .option('--timeout <ms>', 'how long --wait-for waits', parseCount)
    .option('--json', 'machine-readable output')
    .action(async (ref: string, opts: DeployArgs & ApiFlags & { waitFor?: number, timeout?: number, json?: boolean }) => {
      const d = deploymentFromArgs(ref, opts)
      const { name, ...body } = d
      const r = await apiClient(opts).put<WriteReply>(namePath(name, opts), body, writeSignal(opts))
      if (opts.json === true) { printJson(r); return }
      print(`${name}@${d.version} deployed (seq ${r.seq ?? '-'})${acksText(r, opts)}\n`)
    })

  component.command('undeploy')
    .description('remove the deployment of NAME')
    .argument('<name>', 'component name')
    .addOption(apiOption()).addOption(tokenFileOption())
    .option('--wait-for <n>', 'also wait until N other members hold the removal durably', parseCount)
    .option('--timeout <ms>', 'how long --wait-for waits', parseCount)
    .option('--json', 'machine-readable output')
    .action(async (name: string, opts: ApiFlags & { waitFor?: number, timeout?: number, json?: boolean }) => {
      const r = await apiClient(opts).del<WriteReply>(namePath(name, opts), writeSignal(opts))
      if (opts.json === true) { printJson(r); return }
      print(r.deleted === true ? `${name} undeployed (seq ${r.seq ?? '-'})${acksText(r, opts)}\n` : `${name} was not deployed\n`)
    })

  component.command('deployments')
    .description('list the deployments in replicated config; with NAME, one deployment and where its counted instances are placed')
    .argument('[name]', 'one deployment: its record and, per region, the placement record in force')
    .addOption(apiOption()).addOption(tokenFileOption())
    .option('--json', 'machine-readable output')
    .action(async (name: string | undefined, opts: ApiFlags & { json?: boolean }) => {
      if (name !== undefined) {
        const d = await apiClient(opts).get<Shown>(namePath(name))
        if (opts.json === true) { printJson(d); return }
        printDeployments([d])
        if (d.placements === undefined) { print('\nsystem deployment: one instance on every eligible node of its regions\n'); return }
        print('\n')
        if (d.placements.length === 0) { print('not placed yet (the region\'s network manager places it within one round)\n'); return }
        printTable(d.placements.flatMap(p => p.assignments.length === 0
          ? [{ region: p.region, term: p.term, node: '-', since: '-' }]
          : p.assignments.map(a => ({ region: p.region, term: p.term, node: a.node, since: new Date(a.since).toISOString() }))), [
          { header: 'REGION', value: r => r.region },
          { header: 'TERM', value: r => String(r.term) },
          { header: 'NODE', value: r => r.node },
          { header: 'SINCE', value: r => r.since }
        ])
        return
      }
      const r = await apiClient(opts).get<{ deployments: Listed[] }>('/v1/deployments')
      if (opts.json === true) { printJson(r); return }
      printDeployments(r.deployments)
    })
}

function printDeployments (ds: Listed[]): void {
  printTable(ds, [
    { header: 'NAME', value: d => d.name },
    { header: 'VERSION', value: d => d.version },
    { header: 'REGIONS', value: d => d.regions?.join(',') ?? 'all' },
    { header: 'COUNT', value: d => d.count === undefined ? 'system' : String(d.count) },
    { header: 'CONSTRAINTS', value: d => Object.entries(d.constraints ?? {}).map(([k, v]) => `${k}=${v}`).join(',') || '-' },
    { header: 'WRITER', value: d => d.writer ?? '-' }
  ])
}
