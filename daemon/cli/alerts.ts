/**
 * `mycel alerts` and `mycel alert rules|inhibit|silence|silences|expire`:
 * alerting through a local agent's admin API (routes/alerts.ts); any node
 * answers, the state lives in replicated config (docs/monitoring.md).
 *
 * Rule and inhibit files are checked here with the same code every agent
 * runs before anything is sent, so a bad file exits 2 with its line and
 * reason and the rules in force stay.
 */
import { readFile } from 'node:fs/promises'
import { hostname, userInfo } from 'node:os'
import { InvalidArgumentError, type Command } from 'commander'
import { UsageError } from '../errors.js'
import { apiClient, type ApiFlags } from './client.js'
import { apiOption, parseRegion, tokenFileOption } from './options.js'
import { ago, print, printJson, printTable } from './output.js'
import { parseRuleFile } from '../../managers/monitoring/rule-file.js'
import { parseInhibitFile } from '../../managers/monitoring/inhibit-file.js'
import { parseMatchers, formatMatcher } from '../../managers/monitoring/matchers.js'
import { parsePromDuration } from '../../managers/monitoring/duration.js'

interface ShownAlert {
  labels: Record<string, string>
  annotations: Record<string, string>
  startsAt: string
  endsAt: string
  fingerprint: string
  status: { state: string, silencedBy: string[], inhibitedBy: string[] }
  region: string
  state: 'pending' | 'firing' | 'resolved'
  activeAt: string
  value: string
}

interface ShownSilence {
  id: string
  matchers: Array<{ name: string, value: string, isRegex: boolean, isEqual: boolean }>
  startsAt: string
  endsAt: string
  createdBy: string
  comment: string
  status: { state: string }
}

interface Anomalies { region: string, at: number, holder: string, scores: Array<{ peer: string, series: string, score: number, anomalous: boolean, kind?: string }> }

function parseDurationArg (v: string): number {
  const ms = parsePromDuration(v)
  if (ms === undefined || ms <= 0) throw new InvalidArgumentError('expected a duration like 30m, 2h or 1d')
  return ms
}

function collectMatcher (v: string, prev: string[] = []): string[] {
  try { parseMatchers(v) } catch (err) { throw new InvalidArgumentError((err as Error).message) }
  return [...prev, v]
}

async function readText (file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8')
  } catch (err) {
    throw new UsageError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
}

const labelsText = (l: Record<string, string>): string => Object.entries(l).filter(([k]) => k !== 'alertname').map(([k, v]) => `${k}=${v}`).join(' ')

export function printAlerts (alerts: ShownAlert[]): void {
  if (alerts.length === 0) { print('no alerts\n'); return }
  printTable(alerts, [
    { header: 'ALERT', value: a => a.labels.alertname ?? '' },
    { header: 'STATE', value: a => a.state === 'firing' && a.status.state === 'suppressed' ? (a.status.silencedBy.length > 0 ? 'silenced' : 'inhibited') : a.state },
    { header: 'SINCE', value: a => `${ago(a.state === 'pending' ? a.activeAt : a.startsAt)} ago` },
    { header: 'VALUE', value: a => a.value },
    { header: 'LABELS', value: a => labelsText(a.labels) },
    { header: 'SUMMARY', value: a => (a.annotations.summary ?? a.annotations.description ?? '').slice(0, 80) }
  ])
}

function printSilences (silences: ShownSilence[]): void {
  if (silences.length === 0) { print('no silences\n'); return }
  printTable(silences, [
    { header: 'ID', value: s => s.id },
    { header: 'STATE', value: s => s.status.state },
    { header: 'MATCHERS', value: s => s.matchers.map(m => formatMatcher({ name: m.name, value: m.value, type: m.isRegex ? (m.isEqual ? '=~' : '!~') : (m.isEqual ? '=' : '!=') })).join(' ') },
    { header: 'ENDS', value: s => s.endsAt },
    { header: 'BY', value: s => s.createdBy },
    { header: 'COMMENT', value: s => s.comment.slice(0, 60) }
  ])
}

function registerFileCommands (parent: Command, name: 'rules' | 'inhibit', path: string, check: (text: string) => unknown, what: string): void {
  const cmd = parent.command(name).description(name === 'rules' ? 'alert rules (Prometheus rule-file format) in force in every region' : 'inhibition rules (Alertmanager\'s inhibit_rules section)')
  cmd.command('set <file>')
    .description(`check ${what} and store it in replicated config; every region's monitoring manager evaluates it`)
    .addOption(apiOption()).addOption(tokenFileOption())
    .action(async (file: string, opts: ApiFlags) => {
      const text = await readText(file)
      check(text)
      const r = await apiClient(opts).put<{ groups?: Array<{ rules: string[] }>, rules?: number }>(path, { text })
      print(name === 'rules' ? `${r.groups?.reduce((n, g) => n + g.rules.length, 0) ?? 0} alert rules in ${r.groups?.length ?? 0} groups set\n` : `${r.rules ?? 0} inhibit rules set\n`)
    })
  cmd.command('get')
    .description(`print ${what} in force, as it was set`)
    .addOption(apiOption()).addOption(tokenFileOption())
    .option('--json', 'machine-readable output')
    .action(async (opts: ApiFlags & { json?: boolean }) => {
      const r = await apiClient(opts).get<{ text: string }>(path)
      if (opts.json === true) printJson(r)
      else print(r.text.endsWith('\n') ? r.text : `${r.text}\n`)
    })
  cmd.command('clear')
    .description(`remove ${what}`)
    .addOption(apiOption()).addOption(tokenFileOption())
    .action(async (opts: ApiFlags) => {
      await apiClient(opts).del(path)
      print(`${what} removed\n`)
    })
}

export function registerAlertCommands (program: Command): void {
  program.command('alerts')
    .description('the regions\' alerts: firing and pending (and muted ones, marked), from any node')
    .addOption(apiOption()).addOption(tokenFileOption())
    .option('--region <region>', 'only this region', parseRegion)
    .option('--resolved', 'also alerts resolved in the last 15 minutes')
    .option('--anomalies', 'the anomaly scores of this region\'s node series instead')
    .option('--json', 'machine-readable output')
    .action(async (opts: ApiFlags & { region?: string, resolved?: boolean, anomalies?: boolean, json?: boolean }) => {
      const api = apiClient(opts)
      if (opts.anomalies === true) {
        const r = await api.get<Anomalies>('/v1/alerts/anomalies')
        if (opts.json === true) { printJson(r); return }
        if (r.scores.length === 0) { print(`no scored series in ${r.region} yet (detectors warm up first)\n`); return }
        printTable(r.scores, [
          { header: 'PEER', value: s => s.peer },
          { header: 'SERIES', value: s => s.series },
          { header: 'SCORE', value: s => s.score.toFixed(2) },
          { header: 'ANOMALOUS', value: s => s.anomalous ? `yes${s.kind !== undefined ? ` (${s.kind})` : ''}` : '-' }
        ])
        return
      }
      const q = new URLSearchParams()
      if (opts.region !== undefined) q.set('region', opts.region)
      if (opts.resolved === true) q.set('resolved', 'true')
      const alerts = await api.get<ShownAlert[]>(`/v1/alerts${q.size > 0 ? `?${q.toString()}` : ''}`)
      if (opts.json === true) printJson(alerts)
      else printAlerts(alerts)
    })

  const alert = program.command('alert').description('alert rules, inhibition rules and silences')
  registerFileCommands(alert, 'rules', '/v1/alerts/rules', parseRuleFile, 'the rule file')
  registerFileCommands(alert, 'inhibit', '/v1/alerts/inhibit-rules', parseInhibitFile, 'the inhibit rules')

  alert.command('silence')
    .description('mute delivery of matching firing alerts for a while; prints the silence id')
    .addOption(apiOption()).addOption(tokenFileOption())
    .requiredOption('--matcher <K=V>', 'label matcher (K=V, K!=V, K=~RE, K!~RE), repeatable: all must match', collectMatcher)
    .requiredOption('--comment <text>', 'why (shown with the silence)')
    .option('--duration <dur>', 'how long (default 1h)', parseDurationArg)
    .option('--author <name>', 'who (default user@host)')
    .action(async (opts: ApiFlags & { matcher: string[], comment: string, duration?: number, author?: string }) => {
      if (opts.comment.trim() === '') throw new UsageError('--comment must not be empty')
      const now = Date.now()
      const r = await apiClient(opts).post<{ silenceID: string }>('/v1/silences', {
        matchers: opts.matcher,
        startsAt: new Date(now).toISOString(),
        endsAt: new Date(now + (opts.duration ?? 3_600_000)).toISOString(),
        createdBy: opts.author ?? `${userInfo().username}@${hostname()}`,
        comment: opts.comment
      })
      print(`${r.silenceID}\n`)
    })

  alert.command('silences')
    .description('silences in force and pending (--all: expired ones too)')
    .addOption(apiOption()).addOption(tokenFileOption())
    .option('--all', 'include expired silences')
    .option('--json', 'machine-readable output')
    .action(async (opts: ApiFlags & { all?: boolean, json?: boolean }) => {
      const r = await apiClient(opts).get<ShownSilence[]>(`/v1/silences${opts.all === true ? '?all=true' : ''}`)
      if (opts.json === true) printJson(r)
      else printSilences(r)
    })

  alert.command('expire <id>')
    .description('end a silence now')
    .addOption(apiOption()).addOption(tokenFileOption())
    .action(async (id: string, opts: ApiFlags) => {
      await apiClient(opts).del(`/v1/silence/${encodeURIComponent(id)}`)
      print(`silence ${id} expired\n`)
    })
}
