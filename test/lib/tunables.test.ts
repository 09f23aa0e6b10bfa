import { expect } from 'chai'
import { z } from 'zod'
import { defineTunables, InvalidTunablesError } from '../../lib/tunables.js'

const schema = z.object({ renewMs: z.number().int().positive(), leaseMs: z.number().int().positive(), skewMs: z.number().int().min(0) })
const relations = [(t: z.infer<typeof schema>) => t.leaseMs > t.renewMs + t.skewMs ? undefined : `leaseMs (${t.leaseMs}) must exceed renewMs + skewMs (${t.renewMs + t.skewMs})`]
const profiles = { lan: { renewMs: 1000, leaseMs: 5000, skewMs: 500 }, wan: { renewMs: 3000, leaseMs: 15000, skewMs: 2000 }, test: { renewMs: 100, leaseMs: 800, skewMs: 100 } }

describe('lib/tunables', () => {
  it('gives each profile its validated, frozen defaults', () => {
    const t = defineTunables({ module: 'demo', schema, profiles, relations })
    expect(t.defaults('wan')).to.deep.equal(profiles.wan)
    expect(Object.isFrozen(t.defaults('lan'))).to.equal(true)
  })

  it('validates overrides against the schema and the relations', () => {
    const t = defineTunables({ module: 'demo', schema, profiles, relations })
    expect(t.create('lan', { renewMs: 2000 }).renewMs).to.equal(2000)
    expect(() => t.create('lan', { renewMs: 4800 })).to.throw(InvalidTunablesError, /leaseMs \(5000\) must exceed/)
    expect(() => t.create('lan', { renewMs: -1 })).to.throw(InvalidTunablesError, /demo.*lan: renewMs/)
  })

  it('ignores undefined overrides and refuses an unknown profile', () => {
    const t = defineTunables({ module: 'demo', schema, profiles, relations })
    expect(t.create('wan', { renewMs: undefined })).to.equal(t.defaults('wan'))
    expect(t.create('wan', { renewMs: undefined, skewMs: 1000 })).to.deep.equal({ ...profiles.wan, skewMs: 1000 })
    expect(() => t.defaults('nope' as 'lan')).to.throw(InvalidTunablesError, /demo.*unknown profile "nope"/)
    expect(() => t.create('nope' as 'lan', { renewMs: 1 })).to.throw(InvalidTunablesError, /unknown profile/)
  })

  it('refuses a bad profile table when the module is defined', () => {
    expect(() => defineTunables({ module: 'demo', schema, profiles: { ...profiles, test: { renewMs: 100, leaseMs: 150, skewMs: 100 } }, relations }))
      .to.throw(InvalidTunablesError, /test: leaseMs/)
  })
})
