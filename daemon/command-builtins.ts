/**
 * The built-in commands every agent runs itself (docs/commands.md
 * "Built-ins"). Each answers with text; its first line is what the CLI's
 * table shows, the rest is for `--json`. Output is bounded like an operator
 * command's (maxOutputBytes, with the truncation marker).
 *
 *  ping               one line: region, version, uptime, roles held here
 *  component-restart  stop and start one component's running instance
 *  config-reload      re-read the agent's config file: `logLevel` is applied
 *                     at once; every other key that differs is listed as
 *                     needing a restart (nothing else reloads live today)
 *  gc                 collect the artifact cache (archives nothing needs)
 *  collect            a diagnostic bundle: status, members, faults, roles,
 *                     versions and a snapshot of the mycel_* metrics, as JSON
 */
import type { Logger } from 'pino'
import type { Registry } from 'prom-client'
import { readConfigFile, type AgentConfig } from './config.js'
import { BoundedOutput, type Execution } from '../protocols/command/index.js'
import type { BuiltinCommand } from '../policy/command-policy.js'
import type { Member } from '../protocols/membership/types.js'
import type { SlotView, LocalView } from '../protocols/election/election.js'
import type { Fault } from '../lib/faults.js'

export interface BuiltinDeps {
  peerId: string
  region: string
  version: string
  startedAt: number
  /** Roles this node holds now. */
  held: () => string[]
  members: () => Member[]
  roles: () => { view: SlotView[], local: LocalView[] } | undefined
  faults: () => Fault[]
  registry: Registry
  restartComponent: (name: string) => Promise<void>
  collectArchives: () => Promise<void>
  releases: () => number
  /** The running config and the file it came from (absent: started from flags only). */
  config: AgentConfig
  configFile?: string
  logger: Logger
  maxOutputBytes: number
}

const ok = (output: string): Execution => ({ ok: true, exitCode: null, output })

export async function runBuiltin (name: BuiltinCommand, args: readonly string[], d: BuiltinDeps): Promise<Execution> {
  switch (name) {
    case 'ping': {
      const uptime = Math.round((Date.now() - d.startedAt) / 1000)
      const held = d.held()
      return ok(`pong region=${d.region} version=${d.version} uptime=${uptime}s roles=${held.length > 0 ? held.join(',') : '-'}\n` +
        JSON.stringify({ peerId: d.peerId, region: d.region, version: d.version, uptimeSeconds: uptime, roles: held }) + '\n')
    }
    case 'component-restart': {
      const component = args[0] as string
      await d.restartComponent(component)
      return ok(`restarted ${component}\n`)
    }
    case 'config-reload': return await configReload(d)
    case 'gc': {
      const before = d.releases()
      await d.collectArchives()
      return ok(`artifact cache collected: ${before} → ${d.releases()} releases held\n`)
    }
    case 'collect': return ok(bounded(await bundle(d), d.maxOutputBytes))
  }
}

/** Keys the agent applies without a restart. */
export const RELOADABLE_KEYS = ['logLevel'] as const

async function configReload (d: BuiltinDeps): Promise<Execution> {
  if (d.configFile === undefined) return { ok: false, exitCode: null, output: '', error: 'this agent was started without --config: there is no file to reload' }
  const file = await readConfigFile(d.configFile)
  const lines: string[] = []
  const restart: string[] = []
  for (const [key, value] of Object.entries(file) as Array<[keyof AgentConfig, unknown]>) {
    if (JSON.stringify(value) === JSON.stringify(d.config[key])) continue
    if (key === 'logLevel') {
      d.logger.level = value as string
      ;(d.config as { logLevel: unknown }).logLevel = value
      lines.push(`logLevel set to ${String(value)}`)
    } else {
      restart.push(key)
    }
  }
  const head = lines.length > 0 ? lines.join('; ') : 'nothing to apply'
  return ok(`${head}${restart.length > 0 ? `; changed, needs a restart: ${restart.join(', ')}` : ''}\n`)
}

async function bundle (d: BuiltinDeps): Promise<string> {
  const metrics = (await d.registry.metrics()).split('\n').filter(l => l.startsWith('mycel_')).join('\n')
  const roles = d.roles()
  const members = d.members()
  const faults = d.faults()
  return `collect: ${members.length} members, ${faults.length} faults, roles held ${d.held().join(',') || '-'}, version ${d.version}\n` + JSON.stringify({
    status: { peerId: d.peerId, region: d.region, uptimeSeconds: Math.round((Date.now() - d.startedAt) / 1000), pid: process.pid },
    versions: { mycel: d.version, node: process.version, platform: `${process.platform}-${process.arch}` },
    faults,
    members: members.map(m => ({ peerId: m.peerId, state: m.state, region: m.region, version: m.version })),
    roles: roles === undefined ? null : { held: d.held(), view: roles.view.filter(v => v.holder !== undefined) },
    metrics
  }) + '\n'
}

function bounded (text: string, max: number): string {
  const out = new BoundedOutput(max)
  out.push(Buffer.from(text, 'utf8'))
  return out.text()
}
