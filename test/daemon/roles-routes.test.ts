/**
 * The roles admin routes answer bad parameters at once (400, no DHT lookup)
 * and resolve a role to the freshest lease copy, saying where each came from.
 * The election engine is a stub: these are the routes' decisions.
 */
import { expect } from 'chai'
import { rolesRoutes, type RoutesDeps } from '../../daemon/api/routes/roles.js'
import { LeaseBook } from '../../protocols/election/book.js'
import { leaseStatus, type Lease, type SignedLease } from '../../protocols/election/lease.js'
import type { Route, ApiRequest } from '../../daemon/api/router.js'
import { RequestError } from '../../lib/errors.js'

const HOLDER = '12D3KooWHolder'
const LEASE_MS = 10_000

function lease (issuedAt: number, term = 1): SignedLease {
  const l: Lease = { v: 1, region: 'eu', role: 'config', holder: HOLDER, term, issuedAt, expiresAt: issuedAt + LEASE_MS }
  return { lease: l, record: new Uint8Array() }
}

function setup (dhtCopy: SignedLease | undefined | Error): { routes: Route[], book: LeaseBook, lookups: string[] } {
  const book = new LeaseBook()
  const lookups: string[] = []
  const election = {
    book,
    view: () => [],
    local: () => [],
    resolve: async (region: string, role: string) => {
      lookups.push(`${region}/${role}`)
      if (dhtCopy instanceof Error) throw dhtCopy
      // As the engine does: whatever the DHT returns also feeds the book.
      if (dhtCopy !== undefined) book.observe(dhtCopy)
      return dhtCopy === undefined ? { status: 'none', records: 0 } : { lease: dhtCopy.lease, status: 'expired', records: 1 }
    },
    candidates: () => [HOLDER],
    // As the engine judges a lease whose holder membership has not declared gone.
    status: (l: Lease, now: number) => leaseStatus(l, now, 500)
  }
  const deps = {
    peerId: 'self',
    region: 'eu',
    eligible: [],
    config: { leaseMs: LEASE_MS, maxClockSkewMs: 500 },
    reportTtlMs: 60_000,
    election,
    manager: { status: () => [] },
    actions: { latest: () => [] },
    fencing: { all: () => [] }
  } as unknown as RoutesDeps
  return { routes: rolesRoutes(deps), book, lookups }
}

async function call (routes: Route[], path: string, params: Record<string, string>, query = ''): Promise<any> {
  const route = routes.find(r => r.path === path)
  if (route === undefined) throw new Error(`no route ${path}`)
  const req = { method: 'GET', params, query: new URLSearchParams(query), body: undefined, signal: new AbortController().signal } as unknown as ApiRequest
  const out = await route.handler(req)
  return (out as { json: unknown }).json
}

async function statusOf (p: Promise<unknown>): Promise<number> {
  try { await p } catch (err) { if (err instanceof RequestError) return err.status; throw err }
  return 200
}

describe('roles admin routes', () => {
  it('answers an unknown role or a bad region with 400 and no DHT lookup', async () => {
    const { routes, lookups } = setup(undefined)
    expect(await statusOf(call(routes, '/v1/roles/:region/:role', { region: 'eu', role: 'notarole' }))).to.equal(400)
    expect(await statusOf(call(routes, '/v1/roles/:region/:role', { region: 'BAD X', role: 'config' }))).to.equal(400)
    expect(await statusOf(call(routes, '/v1/roles', {}, 'region=BAD%20X'))).to.equal(400)
    expect(await statusOf(call(routes, '/v1/roles', {}, 'region=eu'))).to.equal(200)
    expect(lookups).to.deep.equal([])
  })

  it('shows the renewed (gossiped) lease as active although the DHT record is older and expired', async () => {
    const now = Date.now()
    const stale = lease(now - 3 * LEASE_MS) // written to the DHT a while ago, expired since
    const renewed = lease(now - 1_000) // the holder's latest renewal, by gossip
    const { routes, book } = setup(stale)
    book.observe(renewed)
    const r = await call(routes, '/v1/roles/:region/:role', { region: 'eu', role: 'config' })
    expect(r.status).to.equal('active')
    expect(r.source).to.equal('gossip')
    expect(r.holder).to.equal(HOLDER)
    expect(r.copies.gossip.status).to.equal('active')
    expect(r.copies.dht.status).to.equal('expired')
  })

  it('takes the DHT copy when it is the fresher one (a higher term this node has not heard of)', async () => {
    const now = Date.now()
    const { routes, book } = setup(lease(now - 500, 2))
    book.observe(lease(now - 1_000, 1))
    const r = await call(routes, '/v1/roles/:region/:role', { region: 'eu', role: 'config' })
    expect(r.source).to.equal('dht')
    expect(r.term).to.equal(2)
    expect(r.copies.gossip.term).to.equal(1)
  })

  it('a failed DHT lookup is a 503 when this node has no copy, and the gossiped copy with dhtError when it has one', async () => {
    const failed = setup(new Error('no peers answered'))
    expect(await statusOf(call(failed.routes, '/v1/roles/:region/:role', { region: 'eu', role: 'config' }))).to.equal(503)
    failed.book.observe(lease(Date.now() - 1_000))
    const r = await call(failed.routes, '/v1/roles/:region/:role', { region: 'eu', role: 'config' })
    expect(r.source).to.equal('gossip')
    expect(r.holder).to.equal(HOLDER)
    expect(r.dhtError).to.match(/no peers answered/)
    expect(r.candidates).to.deep.equal([HOLDER])
  })
})
