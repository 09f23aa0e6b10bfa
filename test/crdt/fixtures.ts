/** Shared by the crdt-* and config-sync-* unit tests: deterministic identities and replicas. */
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { DEFAULT_LIMITS, type ConfigLimits } from '../../crdt/constants.js'
import { compileNamespaces, namespacesSectionSchema, type BuiltinNamespaces } from '../../crdt/namespaces.js'
import { Replica, type ReplicaHooks } from '../../crdt/replica.js'

export interface Identity { privateKey: PrivateKey, peerId: string }

const identities = new Map<number, Identity>()

/** Identity number `n`, the same in every run (seeded key). */
export async function identity (n: number): Promise<Identity> {
  let id = identities.get(n)
  if (id !== undefined) return id
  const seed = new Uint8Array(32)
  new DataView(seed.buffer).setUint32(0, n + 1)
  const privateKey = await generateKeyPairFromSeed('Ed25519', seed)
  id = { privateKey, peerId: peerIdFromPrivateKey(privateKey).toString() }
  identities.set(n, id)
  return id
}

export interface ReplicaCounters { invalid: number, equivocations: number, applied: number }

export async function makeReplica (n: number, opts: { namespaces?: unknown, builtins?: BuiltinNamespaces, limits?: Partial<ConfigLimits>, hooks?: ReplicaHooks } = {}): Promise<{ replica: Replica, id: Identity, counters: ReplicaCounters }> {
  const id = await identity(n)
  const limits = { ...DEFAULT_LIMITS, ...opts.limits }
  const counters: ReplicaCounters = { invalid: 0, equivocations: 0, applied: 0 }
  const replica = new Replica({
    privateKey: id.privateKey,
    self: id.peerId,
    rules: compileNamespaces(namespacesSectionSchema.parse(opts.namespaces ?? {}), limits, undefined, opts.builtins),
    limits,
    hooks: {
      ...opts.hooks,
      onInvalidValue: (...a) => { counters.invalid++; opts.hooks?.onInvalidValue?.(...a) },
      onEquivocation: (...a) => { counters.equivocations++; opts.hooks?.onEquivocation?.(...a) },
      onApplied: (...a) => { counters.applied++; opts.hooks?.onApplied?.(...a) }
    }
  })
  return { replica, id, counters }
}

/** The project's seeded PRNG (test/helpers/prng.ts), re-exported for the crdt and config-sync tests. */
export { prng } from '../helpers/prng.js'
