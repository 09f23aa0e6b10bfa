/**
 * The sidecar role, as testground's sidecar plays it for each instance (pkg/sidecar/sidecar_handler.go):
 * signal `network-initialized` once the instance's network is up, then apply every config published
 * on `network:<hostname>` and signal its `callback_state`. Configs apply in order, one at a time per
 * instance, onto the state the earlier ones left (link-rules.ts: testground's incremental rules).
 * What a config asks for that testground ignores is logged as a warning, in the runner's log and in
 * the instance's `sidecar.log`. A config we cannot honour (latency without netem, IPv6, ...) is not
 * half-applied and its callback is not signalled: the instance is failed with the reason, so the run
 * ends with a clear message instead of a barrier that never opens.
 */
import { appendFile } from 'node:fs/promises'
import { join } from 'node:path'
import { must, run } from './exec.js'
import {
  FILTER_ACCEPT, parseNetworkConfig, unsupportedReason, nftRuleset, routeCommands, tcCommands,
  type LinkState, type NetworkConfig, type RouteCommand, type ShapingContext
} from './shaping.js'
import { applyConfig, initialLinkState } from './link-rules.js'
import { stateKey, topicKey, type SyncService } from './sync-service.js'
import { UnsupportedShapingError } from './errors.js'
import type { Instance } from './instance.js'

export interface SidecarLog { info: (msg: string) => void, warn: (msg: string) => void }

export class Sidecar {
  private readonly unsubscribes: Array<() => void> = []
  private readonly queues = new Map<number, Promise<void>>()
  /** current address per instance index, to refuse an IPv4 change onto a taken address */
  private readonly addrs = new Map<number, string>()
  /** each instance's link as the configs so far left it */
  private readonly links = new Map<number, LinkState>()
  private stopped = false
  applied = 0
  refused = 0

  constructor (
    private readonly sync: SyncService,
    private readonly prefix: string,
    private readonly ctx: Omit<ShapingContext, 'dev'>,
    private readonly log: SidecarLog
  ) {}

  /** Installs the initial (open) ruleset; fails fast if nftables does not work in the namespace. */
  async prepare (inst: Instance): Promise<void> {
    const netns = inst.spec.netns as string
    this.addrs.set(inst.spec.index, inst.spec.ip)
    const open = initialLinkState()
    await must(['ip', 'netns', 'exec', netns, 'nft', '-f', '-'], nftRuleset(open, { ...this.ctx, dev: 'eth0' }))
    await this.routeToSyncService(netns)
    this.links.set(inst.spec.index, open)
  }

  /**
   * A /32 route to the gateway, so no filter route (not even one for the whole data subnet, which
   * replaces the connected route) takes the sync service away: under testground it has a network of
   * its own.
   */
  private async routeToSyncService (netns: string): Promise<void> {
    await must(['ip', '-n', netns, 'route', 'replace', `${this.ctx.gateway}/32`, 'dev', 'eth0'])
  }

  /** Called once the instance's process runs: signal network readiness and follow its config topic. */
  attach (inst: Instance): void {
    this.sync.signalEntry(stateKey(this.prefix, 'network-initialized'))
    const topic = topicKey(this.prefix, `network:${inst.spec.hostname}`)
    this.unsubscribes.push(this.sync.subscribe(topic, json => {
      const prev = this.queues.get(inst.spec.index) ?? Promise.resolve()
      const next = prev.then(async () => { await this.apply(inst, json) })
      this.queues.set(inst.spec.index, next)
    }))
  }

  private async apply (inst: Instance, json: string): Promise<void> {
    if (this.stopped || !inst.running) return
    const netns = inst.spec.netns as string
    let cfg: NetworkConfig
    let next: LinkState
    try {
      cfg = parseNetworkConfig(JSON.parse(json))
      const why = unsupportedReason(cfg)
      if (why !== undefined) throw new UnsupportedShapingError(why)
      const gw = `${this.ctx.gateway}/32`
      if (cfg.enable && cfg.rules.some(r => r.subnet === gw && r.shape.filter !== FILTER_ACCEPT)) {
        throw new UnsupportedShapingError(`a rule for ${gw}: that is the local runner's sync service (under testground it has a network of its own, which no rule reaches)`)
      }
      const prev = this.links.get(inst.spec.index) ?? initialLinkState()
      const applied = applyConfig(prev, cfg, this.ctx.subnet)
      next = applied.state
      for (const w of applied.warnings) await this.warn(inst, w)
      if (cfg.ipv4 !== undefined) await this.changeAddress(inst, cfg.ipv4)
      await this.route(netns, routeCommands(cfg))
      const ctx = { ...this.ctx, dev: 'eth0' }
      await must(['ip', 'netns', 'exec', netns, 'nft', '-f', '-'], nftRuleset(next, ctx))
      const cmds = tcCommands(next, ctx)
      await run(['ip', 'netns', 'exec', netns, 'tc', ...cmds[0]]) // removing a qdisc that is not there is fine
      for (const c of cmds.slice(1)) await must(['ip', 'netns', 'exec', netns, 'tc', ...c])
    } catch (err) {
      this.refused++
      const reason = `network configuration refused by the local runner: ${(err as Error).message}`
      this.log.warn(`instance ${inst.spec.group}/${inst.spec.groupIndex} (${inst.spec.hostname}): ${reason}`)
      await this.note(inst, `refused: ${reason}`)
      inst.fail('failure', reason)
      return
    }
    this.links.set(inst.spec.index, next)
    this.applied++
    if (cfg.callbackState !== '') this.sync.signalEntry(stateKey(this.prefix, cfg.callbackState))
  }

  /**
   * Runs route commands in order, each stretch of the same kind as one `ip -batch` (a partition of
   * 50 instances is 25 rules each); deletes that find nothing (`-force`: keep going) are no error.
   */
  private async route (netns: string, cmds: RouteCommand[]): Promise<void> {
    for (let i = 0; i < cmds.length;) {
      let j = i
      while (j < cmds.length && cmds[j].mayFail === cmds[i].mayFail) j++
      const input = cmds.slice(i, j).map(c => c.argv.join(' ')).join('\n') + '\n'
      if (cmds[i].mayFail) await run(['ip', '-n', netns, '-force', '-batch', '-'], input)
      else await must(['ip', '-n', netns, '-batch', '-'], input)
      i = j
    }
  }

  private async warn (inst: Instance, msg: string): Promise<void> {
    this.log.warn(`instance ${inst.spec.group}/${inst.spec.groupIndex} (${inst.spec.hostname}): network config: ${msg}`)
    await this.note(inst, `warning: ${msg}`)
  }

  /** One line in the instance's sidecar.log (beside its run.out); a write failure only loses the note. */
  private async note (inst: Instance, line: string): Promise<void> {
    try {
      await appendFile(join(inst.spec.outputsDir, 'sidecar.log'), `${new Date().toISOString()} ${line}\n`)
    } catch { /* outputs dir gone: the runner log has it */ }
  }

  private async changeAddress (inst: Instance, cidr: string): Promise<void> {
    const [ip, prefix] = cidr.split('/')
    if (ip === this.addrs.get(inst.spec.index)) return
    for (const [i, a] of this.addrs) {
      if (a === ip && i !== inst.spec.index) throw new UnsupportedShapingError(`IPv4 ${ip} is already used by instance ${i}`)
    }
    if (ip === this.ctx.gateway) throw new UnsupportedShapingError(`IPv4 ${ip} is the gateway`)
    const netns = inst.spec.netns as string
    await must(['ip', '-n', netns, 'addr', 'flush', 'dev', 'eth0'])
    await must(['ip', '-n', netns, 'addr', 'add', `${ip}/${prefix}`, 'dev', 'eth0'])
    // Removing the last address took the routes through eth0 with it (filter routes have no device).
    await this.routeToSyncService(netns)
    this.addrs.set(inst.spec.index, ip)
  }

  stop (): void {
    this.stopped = true
    for (const u of this.unsubscribes.splice(0)) u()
  }
}
