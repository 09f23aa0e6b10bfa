import { expect } from 'chai'
import fc from 'fast-check'
import { refreshIntervalMs, significantKey, staleAfterMs } from '../../../protocols/health/cadence.js'
import { healthTunables, type HealthReport } from '../../../protocols/health/index.js'
import { MAX_REFRESH_MS } from '../../../protocols/health/constants.js'

const report = (over: Partial<HealthReport> = {}): HealthReport => ({
  v: 1,
  peerId: '12D3KooWExample',
  region: 'eu',
  issuedAt: 1_000,
  uptimeSeconds: 10,
  version: '1.0.0',
  roles: ['network'],
  load: [0.1, 0.2, 0.3],
  cpus: 2,
  memory: { rssBytes: 1, heapUsedBytes: 1, totalBytes: 10, freeBytes: 5 },
  diskFreeBytes: 100,
  checks: [{ name: 'disk', ok: true }],
  ...over
})

const configArb = fc.record({
  publishIntervalMs: fc.integer({ min: 1, max: 120_000 }),
  regionReportsPerSecond: fc.double({ min: 0.001, max: 1_000, noNaN: true }),
  extra: fc.integer({ min: 0, max: MAX_REFRESH_MS })
}).map(c => ({ publishIntervalMs: c.publishIntervalMs, regionReportsPerSecond: c.regionReportsPerSecond, maxRefreshMs: Math.min(MAX_REFRESH_MS, c.publishIntervalMs + c.extra) }))

describe('health cadence: refresh period, staleness, what is published at once', () => {
  it('a refresh period lies between the base period and the cap, never shrinks as the region grows, and keeps the region under its rate until the cap', () => {
    fc.assert(fc.property(configArb, fc.integer({ min: 0, max: 1_000_000 }), fc.integer({ min: 0, max: 1_000 }), (cfg, n, more) => {
      const r = refreshIntervalMs(cfg, n)
      expect(r).to.be.within(cfg.publishIntervalMs, cfg.maxRefreshMs)
      expect(refreshIntervalMs(cfg, n + more)).to.be.at.least(r)
      // Below the cap, the region's members together send at most the configured rate.
      if (r < cfg.maxRefreshMs) expect(Math.max(1, n) * 1000 / r).to.be.at.most(cfg.regionReportsPerSecond * (1 + 1e-9))
    }))
  })

  it('on lan: 30 s up to 7 members, 400 s at 100, ten minutes from 150 on', () => {
    const lan = healthTunables.defaults('lan')
    expect([1, 7, 8, 30, 100, 150, 5_000].map(n => refreshIntervalMs(lan, n))).to.deep.equal([30_000, 30_000, 32_000, 120_000, 400_000, 600_000, 600_000])
    // The test profile keeps 1 s reports for every cluster a test starts.
    expect(refreshIntervalMs(healthTunables.defaults('test'), 50)).to.equal(1_000)
  })

  it('a report is stale after its publisher\'s periods (up to the reader\'s cap), or the reader\'s base period when it names none', () => {
    const cfg = { publishIntervalMs: 30_000, staleAfterIntervals: 3, maxRefreshMs: 600_000 }
    expect(staleAfterMs(cfg, {})).to.equal(90_000)
    expect(staleAfterMs(cfg, { refreshMs: 200_000 })).to.equal(600_000)
    // A period beyond the reader's own cap counts as the cap: announcing a day buys no three days of freshness.
    expect(staleAfterMs(cfg, { refreshMs: 86_400_000 })).to.equal(1_800_000)
  })

  it('gauges alone do not change what is published at once; checks, components, roles, labels, version and offences do', () => {
    fc.assert(fc.property(
      fc.record({
        issuedAt: fc.nat(), uptimeSeconds: fc.nat(), load: fc.tuple(fc.nat(), fc.nat(), fc.nat()),
        rss: fc.nat(), free: fc.nat(), disk: fc.nat(), refreshMs: fc.integer({ min: 1, max: 1e6 })
      }),
      (g) => {
        const drifted = report({ issuedAt: g.issuedAt, uptimeSeconds: g.uptimeSeconds, load: g.load, memory: { rssBytes: g.rss, heapUsedBytes: g.rss, totalBytes: 10, freeBytes: g.free }, diskFreeBytes: g.disk, refreshMs: g.refreshMs })
        expect(significantKey(drifted)).to.equal(significantKey(report()))
      }))
    const base = significantKey(report())
    for (const changed of [
      report({ checks: [{ name: 'disk', ok: false }] }),
      report({ roles: [] }),
      report({ version: '1.0.1' }),
      report({ labels: { zone: 'a' } }),
      report({ components: [{ name: 'web', version: '1', state: 'running', restarts: 0, health: 'passing', since: 1 }] }),
      report({ offences: { windowMs: 1, peers: [{ peer: 'p', kinds: { bad_signature: 1 }, firstSeen: 1, lastSeen: 1 }] } })
    ]) expect(significantKey(changed)).to.not.equal(base)
  })
})
