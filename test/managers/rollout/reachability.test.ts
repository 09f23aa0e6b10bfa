/**
 * The archive probe of a rollout start (managers/rollout/reachability.ts):
 * held here in full, or a provider other than this node found in time.
 */
import { strict as assert } from 'node:assert'
import type { PeerId } from '@libp2p/interface'
import { archiveProbe } from '../../../managers/rollout/reachability.js'
import type { ProviderEvent } from '../../../protocols/artifacts/routing.js'
import { CID_TEXT } from './operator-fixtures.js'

const archive = { cid: CID_TEXT, size: 10 }
const peer = (id: string): PeerId => ({ toString: () => id }) as unknown as PeerId

function probeWith (d: { held?: boolean, missing?: number, providers?: string[], hang?: boolean }): { probe: ReturnType<typeof archiveProbe>, lookups: () => number } {
  let lookups = 0
  const probe = archiveProbe({
    self: 'me',
    timeoutMs: 50,
    blocks: {
      getIndex: async () => d.held === true ? { root: undefined as never, index: undefined as never } : undefined,
      missing: async () => new Array(d.missing ?? 0).fill(undefined)
    },
    routing: {
      findProviders: (_cid, opts) => (async function * (): AsyncGenerator<ProviderEvent> {
        lookups++
        yield { name: 'PEER_RESPONSE' }
        if (d.providers !== undefined) yield { name: 'PROVIDER', providers: d.providers.map(id => ({ id: peer(id) })) }
        // A lookup that finds nothing more runs until its deadline.
        if (d.hang === true) await new Promise((_resolve, reject) => opts?.signal?.addEventListener('abort', () => { reject(opts.signal?.reason) }))
      })()
    }
  })
  return { probe, lookups: () => lookups }
}

describe('rollout archive probe', () => {
  const signal = new AbortController().signal

  it('held in full here: reachable without a lookup', async () => {
    const p = probeWith({ held: true })
    assert.equal(await p.probe(archive, signal), true)
    assert.equal(p.lookups(), 0)
  })

  it('held in part, or not at all: asks the DHT; only another node counts as a provider', async () => {
    assert.equal(await probeWith({ held: true, missing: 2, providers: ['other'] }).probe(archive, signal), true)
    assert.equal(await probeWith({ providers: ['me'] }).probe(archive, signal), false)
    assert.equal(await probeWith({ providers: [] }).probe(archive, signal), false)
  })

  it('a lookup that finds nobody ends at the bound with "unreachable"', async () => {
    assert.equal(await probeWith({ hang: true }).probe(archive, signal), false)
  })
})
