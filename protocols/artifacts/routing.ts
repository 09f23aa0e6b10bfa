/**
 * Where the fetcher finds who has an archive, and how a node says it has
 * one: provider records in the kad-dht the node runs, keyed by the archive
 * CID the manifest names. The slice of kad-dht used here; the libp2p node's
 * `services.dht` satisfies it structurally, a unit test passes a fake.
 */
import type { PeerId } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'

/** The part of a kad-dht query event the fetcher reads: PROVIDER events with their peers. */
export interface ProviderEvent {
  name: string
  providers?: Array<{ id: PeerId }>
}

export interface ProviderRouting {
  provide: (key: CID, options?: { signal?: AbortSignal }) => AsyncIterable<unknown>
  findProviders: (key: CID, options?: { signal?: AbortSignal }) => AsyncIterable<ProviderEvent>
}
