import { strict as assert } from 'node:assert'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import pino from 'pino'
import { Registry } from 'prom-client'
import type { PlacementConfig } from '../../managers/placement-duty.js'
import { SecurityMonitor, revokeCommand } from '../../managers/security-monitor.js'
import { securityMetrics } from '../../managers/security-metrics.js'
import { offenceThresholds } from '../../managers/security-aggregate.js'
import { auditEvents, checkSecurityEntry, currentFindings, findingsKey, SECURITY_NAMESPACE as NS } from '../../managers/security-records.js'
import type { CriticalChange, CriticalValue } from '../../protocols/bft/critical-state.js'
import type { HealthReport } from '../../protocols/health/index.js'

const logger = pino({ level: 'silent' })
const REGION = 'eu'

async function id (seed: number): Promise<string> {
  return peerIdFromPrivateKey(await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(seed))).toString()
}

/** Replicated config as the duty sees it; every write passes the built-in rule. */
class FakeConfig implements PlacementConfig {
  readonly data = new Map<string, { value: unknown, writer?: string }>()
  readonly ops: string[] = []
  entries (ns: string): Array<[string, { value: unknown, writer?: string }]> { return ns === NS ? [...this.data].sort(([a], [b]) => a < b ? -1 : 1) : [] }
  async write (ns: string, key: string, value: unknown, opts: { deleted?: boolean } = {}): Promise<unknown> {
    assert.equal(ns, NS)
    if (opts.deleted === true) {
      this.data.delete(key)
      this.ops.push(`delete ${key}`)
    } else {
      checkSecurityEntry(key, value)
      this.data.set(key, { value: JSON.parse(JSON.stringify(value)), writer: 'holder' })
      this.ops.push(`write ${key}`)
    }
    return {}
  }

  onChange (): () => void { return () => {} }
}

function fakeCritical (): { get: (k: string) => CriticalValue | undefined, entries: () => CriticalValue[], onChange: (l: (c: CriticalChange) => void) => () => void, set: (key: string, value: string | null, height: number) => void } {
  const kv = new Map<string, CriticalValue>()
  const listeners = new Set<(c: CriticalChange) => void>()
  return {
    get: (k) => kv.get(k),
    entries: () => [...kv.values()],
    onChange: (l) => { listeners.add(l); return () => { listeners.delete(l) } },
    set (key, value, height) {
      const certificate = { block: { time: height } } as unknown as CriticalChange['certificate']
      if (value === null) kv.delete(key)
      else kv.set(key, { key, value, height, certificate })
      for (const l of listeners) l({ key, value, height, certificate })
    }
  }
}

function report (peerId: string, peers: Array<{ peer: string, kinds: Record<string, number> }>, region = REGION): { report: HealthReport, stale: boolean } {
  return {
    stale: false,
    report: {
      v: 1, peerId, region, issuedAt: 1, uptimeSeconds: 1, version: '0.1.0', roles: [], load: [0, 0, 0], cpus: 1,
      memory: { rssBytes: 1, heapUsedBytes: 1, totalBytes: 1, freeBytes: 1 }, diskFreeBytes: 1, checks: [],
      offences: { windowMs: 1000, peers: peers.map(p => ({ ...p, firstSeen: 500, lastSeen: 600 })) }
    }
  }
}

async function until (cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

describe('managers/security-monitor', () => {
  let bad: string, r1: string, r2: string
  before(async () => { [bad, r1, r2] = await Promise.all([1, 2, 3].map(id)) })

  function setup (): { monitor: SecurityMonitor, config: FakeConfig, critical: ReturnType<typeof fakeCritical>, reports: Array<ReturnType<typeof report>>, registry: Registry } {
    const config = new FakeConfig()
    const critical = fakeCritical()
    const reports: Array<ReturnType<typeof report>> = []
    const registry = new Registry()
    const monitor = new SecurityMonitor({
      region: REGION, config: () => config, critical: () => critical, membership: { self: () => ({ peerId: r1 }) as never, members: () => [] },
      health: { reports: () => reports }, thresholds: offenceThresholds.defaults('test'), findingsGauge: securityMetrics(registry).findings, logger, maxAuditEvents: 4
    })
    return { monitor, config, critical, reports, registry }
  }

  it('writes the region findings under its term once, rewrites them on a change, and sets mycel_security_findings', async () => {
    const { monitor, config, reports, registry } = setup()
    reports.push(report(r1, [{ peer: bad, kinds: { bad_signature: 1 } }]), report(r2, [{ peer: bad, kinds: { replay: 0 } }]))
    // Reports of another region and stale ones are not this manager's.
    reports.push(report(await id(9), [{ peer: bad, kinds: { equivocation: 5 } }], 'us'), { ...report(await id(8), [{ peer: bad, kinds: { equivocation: 5 } }]), stale: true })
    const first = await monitor.round(3)
    assert.equal(first.wrote, true)
    const rec = currentFindings(config.entries(NS)).get(REGION)?.record
    assert.equal(rec?.term, 3)
    assert.deepEqual(rec?.findings.map(f => [f.peer, f.kinds, f.reporters, f.proposal]), [[bad, { bad_signature: 1 }, [r1], undefined]])
    assert.match(await registry.getSingleMetricAsString('mycel_security_findings'), /mycel_security_findings\{region="eu"\} 1/)
    assert.equal((await monitor.round(3)).wrote, false, 'nothing changed: no write')
    reports[0] = report(r1, [{ peer: bad, kinds: { bad_signature: 2 } }])
    assert.equal((await monitor.round(3)).wrote, true)
  })

  it('with autoProposeRevocation a finding carries the revoke command, never for a peer already revoked; nothing is committed', async () => {
    const { monitor, config, critical, reports } = setup()
    reports.push(report(r1, [{ peer: bad, kinds: { equivocation: 1 } }, { peer: r2, kinds: { equivocation: 1 } }]))
    critical.set('security', '{"autoProposeRevocation":true}', 1)
    critical.set(`admission/revoked/${r2}`, '{"reason":"stolen","cutoff":{}}', 2)
    const r = await monitor.round(1)
    const by = new Map(r.findings.map(f => [f.peer, f]))
    assert.deepEqual(by.get(bad)?.proposal, { action: 'revoke', command: `mycel admission revoke ${bad}` })
    assert.equal(revokeCommand(bad), `mycel admission revoke ${bad}`)
    assert.equal(by.get(r2)?.proposal, undefined)
    assert.equal(by.get(r2)?.revoked, true)
    assert.equal(currentFindings(config.entries(NS)).get(REGION)?.record.autoProposeRevocation, true)
    // The security key's thresholds and minReporters apply: two reporters needed now.
    critical.set('security', '{"autoProposeRevocation":true,"minReporters":2}', 3)
    assert.deepEqual((await monitor.round(1)).findings, [])
  })

  it('a newer term\'s record means a newer holder: writes nothing; a newer holder deletes the older term after writing its own', async () => {
    const { monitor, config, reports } = setup()
    reports.push(report(r1, [{ peer: bad, kinds: { equivocation: 1 } }]))
    await monitor.round(5)
    config.ops.length = 0
    const stale = await monitor.round(4)
    assert.equal(stale.superseded, true)
    assert.deepEqual(config.ops, [])
    await monitor.round(6)
    assert.deepEqual(config.ops.slice(0, 2), [`write ${findingsKey(REGION, 6)}`, `delete ${findingsKey(REGION, 5)}`])
  })

  it('appends one audit event per committed admission change and per new finding, never twice, and drops the oldest beyond the bound', async () => {
    const { monitor, config, critical, reports } = setup()
    critical.set('admission', '{"mode":"allowlist","allow":[]}', 1)
    critical.set(`admission/allow/${r1}`, '{"token":"00112233445566778899aabbccddeeff"}', 2)
    await monitor.round(1)
    let events = auditEvents(config.entries(NS))
    assert.deepEqual(events.map(e => [e.id, e.kind]), [['critical/1/admission', 'policy'], [`critical/2/admission/allow/${r1}`, 'admission']])
    assert.match(events[1].detail, /with join token 00112233/)
    assert.equal((await monitor.round(1)).audited.length, 0, 'each event is written once')

    // Changes while the role runs: each kicks a round, and a deletion is only seen as a change event.
    const ctl = new AbortController()
    monitor.run(1, ctl.signal, 60_000, (err) => { throw err })
    reports.push(report(r1, [{ peer: bad, kinds: { equivocation: 1 } }]))
    critical.set(`admission/allow/${r2}`, `{"replaces":"${r1}","graceUntil":5}`, 3)
    critical.set(`admission/allow/${r1}`, null, 4)
    const want = [`critical/2/admission/allow/${r1}`, `critical/3/admission/allow/${r2}`, `critical/4/admission/allow/${r1}`, `finding/${REGION}/${bad}/500`]
    // Five events, the oldest (the policy, at block time 1) dropped past the bound of four.
    await until(() => JSON.stringify(auditEvents(config.entries(NS)).map(e => e.id)) === JSON.stringify(want))
    ctl.abort()
    events = auditEvents(config.entries(NS))
    assert.deepEqual(events.map(e => e.kind), ['admission', 'rotation', 'admission-removed', 'finding'])
    assert.match(events[1].detail, new RegExp(`${r2} replaces ${r1}`))
    assert.equal(config.ops.filter(o => o === `write audit/finding/${REGION}/${bad}/500`).length, 1, 'written once')
  })

  it('removes its gauge at demotion', async () => {
    const { monitor, reports, registry } = setup()
    reports.push(report(r1, [{ peer: bad, kinds: { equivocation: 1 } }]))
    const ctl = new AbortController()
    monitor.run(1, ctl.signal, 60_000, () => {})
    await monitor.round(1)
    ctl.abort()
    assert.doesNotMatch(await registry.getSingleMetricAsString('mycel_security_findings'), /region="eu"/)
  })
})
