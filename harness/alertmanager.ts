/**
 * A real Alertmanager for tests: Debian's `prometheus-alertmanager`,
 * started on loopback with its own temp storage, HA gossip off
 * (`--cluster.listen-address=`), and a minimal config whose one receiver
 * posts to `webhookUrl` (with `send_resolved`) when given. Short group
 * timers so a notification follows an alert within about a second.
 *
 * The binary is `MYCEL_ALERTMANAGER_BIN`, else the package's (found with
 * `dpkg -L prometheus-alertmanager`, else /usr/bin/prometheus-alertmanager).
 * A missing binary is an error naming the package to install, never a
 * skipped test.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort, waitFor } from './agent-process.js'

const PACKAGE = 'prometheus-alertmanager'
/** Alertmanager starts in well under a second; 2 busy cores make it slower. */
const START_TIMEOUT_MS = 30_000

/** Every Alertmanager this process started; killed on exit, whatever path the run took. */
const running = new Set<ChildProcess>()
process.once('exit', () => { for (const c of running) c.kill('SIGKILL') })

export class AlertmanagerMissingError extends Error {
  static name = 'AlertmanagerMissingError'
  override name = 'AlertmanagerMissingError'
}

export function alertmanagerBinary (): string {
  const fromEnv = process.env.MYCEL_ALERTMANAGER_BIN
  if (fromEnv !== undefined && fromEnv !== '') {
    if (existsSync(fromEnv)) return fromEnv
    throw new AlertmanagerMissingError(`MYCEL_ALERTMANAGER_BIN=${fromEnv} does not exist: install the Debian package ${PACKAGE} (apt-get install ${PACKAGE})`)
  }
  try {
    const files = execFileSync('dpkg', ['-L', PACKAGE], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n')
    const bin = files.find(f => /\/bin\/prometheus-alertmanager$/.test(f))
    if (bin !== undefined && existsSync(bin)) return bin
  } catch {}
  if (existsSync('/usr/bin/prometheus-alertmanager')) return '/usr/bin/prometheus-alertmanager'
  throw new AlertmanagerMissingError(`Alertmanager not found: install the Debian package ${PACKAGE} (apt-get install ${PACKAGE}) or set MYCEL_ALERTMANAGER_BIN`)
}

export interface AlertmanagerOptions {
  /** Where the one receiver posts (Alertmanager's webhook payload), with resolves; none: a receiver that sends nothing. */
  webhookUrl?: string
  /** Route timers, Alertmanager duration text. @default '100ms', '1s', '1h' */
  groupWait?: string
  groupInterval?: string
  repeatInterval?: string
}

/** An alert as `GET /api/v2/alerts` returns it (the fields tests read). */
export interface GettableAlert {
  labels: Record<string, string>
  annotations: Record<string, string>
  startsAt: string
  endsAt: string
  fingerprint: string
  status: { state: 'active' | 'suppressed' | 'unprocessed', silencedBy: string[], inhibitedBy: string[] }
}

export class AlertmanagerProcess {
  stderr = ''
  private constructor (readonly url: string, private readonly child: ChildProcess, private readonly dir: string) {}

  static async start (opts: AlertmanagerOptions = {}): Promise<AlertmanagerProcess> {
    const bin = alertmanagerBinary()
    const dir = await mkdtemp(join(tmpdir(), 'mycel-am-'))
    const port = await freePort()
    const receiver = opts.webhookUrl === undefined
      ? '  - name: test'
      : `  - name: test\n    webhook_configs:\n      - url: ${JSON.stringify(opts.webhookUrl)}\n        send_resolved: true`
    await writeFile(join(dir, 'alertmanager.yml'), [
      'route:',
      '  receiver: test',
      "  group_by: ['alertname']",
      `  group_wait: ${opts.groupWait ?? '100ms'}`,
      `  group_interval: ${opts.groupInterval ?? '1s'}`,
      `  repeat_interval: ${opts.repeatInterval ?? '1h'}`,
      'receivers:',
      receiver,
      ''
    ].join('\n'))
    const child = spawn(bin, [
      `--config.file=${join(dir, 'alertmanager.yml')}`,
      `--storage.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--cluster.listen-address='
    ], { stdio: ['ignore', 'ignore', 'pipe'] })
    running.add(child)
    const am = new AlertmanagerProcess(`http://127.0.0.1:${port}`, child, dir)
    child.stderr?.on('data', (b: Buffer) => { am.stderr = (am.stderr + b.toString()).slice(-20_000) })
    child.once('exit', () => running.delete(child))
    try {
      await waitFor(async () => {
        if (child.exitCode !== null) throw new Error(`alertmanager exited ${child.exitCode}: ${am.stderr.slice(-2000)}`)
        return (await fetch(`${am.url}/-/ready`)).ok
      }, START_TIMEOUT_MS, 'alertmanager to be ready', 50)
    } catch (err) {
      await am.stop()
      throw err
    }
    return am
  }

  /** `GET /api/v2/alerts`: the alerts Alertmanager holds that have not ended. */
  async alerts (): Promise<GettableAlert[]> {
    const res = await fetch(`${this.url}/api/v2/alerts`)
    if (!res.ok) throw new Error(`GET /api/v2/alerts: ${res.status}`)
    return await res.json() as GettableAlert[]
  }

  /** Kill it and remove its files; safe to call twice. */
  async stop (): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise(resolve => this.child.once('exit', resolve))
      this.child.kill('SIGKILL')
      await exited
    }
    await rm(this.dir, { recursive: true, force: true })
  }
}
