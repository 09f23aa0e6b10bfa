/**
 * This node's own store of DHT records as the lease transport needs it
 * (`DhtLocalRecords`, protocols/election/transport.ts): kad-dht writes every
 * put there before it looks for peers and answers other nodes' reads from
 * it, so a lease statement that no peer took has to be taken out again.
 *
 * kad-dht has no call for its local records, so this works on libp2p's
 * datastore under kad-dht's layout: `<datastorePrefix>/record/<base32 of
 * the key>`, each value a serialized DHT record (`Record`). The datastore is
 * reached by query, which hands out its own key objects (no datastore
 * package of ours needed). test/integration/roles-dht.test.ts checks the
 * layout against the real kad-dht.
 */
import { Record as DhtRecord } from '@libp2p/kad-dht'
import { toString as uint8ToString } from 'uint8arrays/to-string'
import { equals } from 'uint8arrays/equals'
import type { DhtLocalRecords } from '../protocols/election/index.js'
import { DHT_DATASTORE_PREFIX, type MycelNode } from './node.js'

/** The part of libp2p's datastore (interface-datastore) used here. */
export interface RecordDatastore<K extends { toString: () => string }> {
  query: (q: { prefix: string }) => AsyncIterable<{ key: K, value: Uint8Array }> | Iterable<{ key: K, value: Uint8Array }>
  put: (key: K, value: Uint8Array) => unknown
  delete: (key: K) => unknown
}

/** The DHT record store of a running node. */
export function nodeDhtLocalRecords (node: MycelNode): DhtLocalRecords {
  // libp2p's class has `components`; its public interface type does not.
  const { datastore } = (node as unknown as { components: { datastore: RecordDatastore<{ toString: () => string }> } }).components
  return dhtLocalRecords(datastore)
}

export function dhtLocalRecords<K extends { toString: () => string }> (datastore: RecordDatastore<K>, prefix = DHT_DATASTORE_PREFIX): DhtLocalRecords {
  const entry = async (key: Uint8Array): Promise<{ key: K, value: Uint8Array } | undefined> => {
    const name = `${prefix}/record/${uint8ToString(key, 'base32')}`
    // A prefix query also matches longer keys that start with this one.
    for await (const e of datastore.query({ prefix: name })) if (e.key.toString() === name) return e
    return undefined
  }
  return {
    snapshot: async (key) => (await entry(key))?.value,
    restore: async (key, value, previous) => {
      const now = await entry(key)
      if (now === undefined || !equals(DhtRecord.deserialize(now.value).value, value)) return
      if (previous === undefined) await datastore.delete(now.key)
      else await datastore.put(now.key, previous)
    }
  }
}
