import { strict as assert } from 'node:assert'
import pino from 'pino'
import { Registry } from 'prom-client'
import { ROLE_NAMES, ROLE_REGISTRY, resolveRoleTunables, type RoleContext } from '../../managers/registry.js'
import { rolesMetrics } from '../../managers/metrics.js'

describe('roles: registry', () => {
  it('is the one list: names, tunables and a factory per role', () => {
    assert.deepEqual([...ROLE_NAMES], ROLE_REGISTRY.map(d => d.name))
    const ctx: RoleContext = {
      region: 'eu',
      emit: async () => false,
      state: async () => false,
      metrics: rolesMetrics(),
      logger: pino({ level: 'silent' }),
      registry: new Registry(),
      membership: { members: () => [] } as unknown as RoleContext['membership'],
      health: { reports: () => [] },
      peers: { getConnections: () => [] }
    }
    // Each entry's own tunables; the cast because TypeScript cannot correlate the union of entries.
    for (const d of ROLE_REGISTRY) assert.equal(d.create(ctx, d.tunables.defaults('test') as never).name, d.name)
  })

  it('resolves every role\'s duty tunables with overrides, each validated by its module', () => {
    const t = resolveRoleTunables('test', undefined, { network: { intervalMs: 500 } })
    assert.equal(t.roles.network.intervalMs, 500)
    assert.equal(t.roles.monitoring.intervalMs, 1_000)
    assert.equal(t.framework.reportTtlMs, 60_000)
    assert.throws(() => resolveRoleTunables('test', undefined, { security: { intervalMs: 0 } }), { name: 'InvalidTunablesError', message: /roles\.security.*intervalMs/ })
  })

  it('outputs outlive two refreshes of every role', () => {
    // lan: update, config and security publish every 30 s.
    const quiet = { statementRefreshMs: 30_000, statementMinGapMs: 30_000 }
    assert.equal(resolveRoleTunables('lan', { reportTtlMs: 60_000, ...quiet }).framework.reportTtlMs, 60_000)
    assert.throws(() => resolveRoleTunables('lan', { reportTtlMs: 59_999, statementRefreshMs: 0, statementMinGapMs: 0 }), { name: 'InvalidTunablesError', message: /roles.*reportTtlMs \(59999\) must cover two of update\.intervalMs \(60000\)/ })
    assert.throws(() => resolveRoleTunables('test', undefined, { network: { intervalMs: 30_001 } }), { name: 'InvalidTunablesError', message: /test: reportTtlMs \(60000\) must cover two of network\.intervalMs/ })
  })
})
