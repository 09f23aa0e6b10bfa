/**
 * The role lease: a record signed by its holder, stored in the DHT under
 * `/mycel/lease/<region>/<role>` and gossiped on every renewal.
 *
 * The record is self-certifying: the validator needs only the key and the
 * value (kad-dht gives it nothing else), checks the holder's signature, that
 * the lease names the key's region and role, and that its times are sane.
 * Expired leases stay VALID records: they carry the term history a successor
 * needs to pick a higher term. Whether a lease is in force is the reader's
 * decision (`leaseState`).
 *
 * Ordering (selector and fencing): by fencing token (term, then holder), then
 * by the holder's latest statement (issuedAt). A release is a lease whose
 * expiry equals its issue time: being the holder's latest statement it
 * supersedes the lease it ends.
 *
 * Evolution (docs/wire.md rule 1): the signed lease keeps fields this release
 * does not know and travels as the record's exact bytes; the `{v, lease, sig}`
 * record ignores unknown fields.
 */
import { z } from 'zod'
import type { PrivateKey } from '@libp2p/interface'
import { bytes, decodeCbor, decodeSigned, encodeCbor } from '../../wire/codec.js'
import { signPayload, verifyPayload } from '../../wire/signing.js'
import { traced } from '../../wire/trace-context.js'
import { LEASE_KEY_PREFIX, LEASE_SIGN_DOMAIN, MAX_FUTURE_ISSUE_MS, MAX_LEASE_BYTES, MAX_LEASE_MS } from './constants.js'
import { InvalidLeaseError } from './errors.js'
import { REGION_PATTERN } from '../../lib/region.js'

/** The config's region rule (lib/region.ts): a region a host can be configured with is one its leases can name. */
export const regionSchema = z.string().regex(REGION_PATTERN)
export const roleSchema = z.string().regex(/^[a-z][a-z0-9-]{0,31}$/)

export const leaseSchema = z.object({
  v: z.literal(1),
  region: regionSchema,
  role: roleSchema,
  holder: z.string().min(1).max(128),
  term: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
  /** Unix ms, holder's clock. */
  issuedAt: z.number().int().nonnegative(),
  /** Unix ms, holder's clock; equal to issuedAt for a release. */
  expiresAt: z.number().int().nonnegative(),
  ...traced
})

export type Lease = z.infer<typeof leaseSchema>

const recordSchema = z.object({
  v: z.literal(1),
  lease: bytes(MAX_LEASE_BYTES),
  sig: bytes(128)
})

/** A verified lease together with the exact bytes that carry it. */
export interface SignedLease {
  lease: Lease
  record: Uint8Array
}

/** The fencing token: totally ordered, and bound to one holder by its signature. */
export interface FencingToken {
  term: number
  holder: string
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

export function leaseKey (region: string, role: string): Uint8Array {
  return encoder.encode(`${LEASE_KEY_PREFIX}${region}/${role}`)
}

/** Parse `/mycel/lease/<region>/<role>`; undefined for any other key. */
export function parseLeaseKey (key: Uint8Array): { region: string, role: string } | undefined {
  const s = decoder.decode(key)
  if (!s.startsWith(LEASE_KEY_PREFIX)) return undefined
  const parts = s.slice(LEASE_KEY_PREFIX.length).split('/')
  if (parts.length !== 2) return undefined
  const [region, role] = parts
  if (!regionSchema.safeParse(region).success || !roleSchema.safeParse(role).success) return undefined
  return { region, role }
}

export async function signLease (lease: Lease, key: PrivateKey): Promise<SignedLease> {
  const payload = encodeCbor(lease)
  const sig = await signPayload(key, LEASE_SIGN_DOMAIN, payload)
  return { lease, record: encodeCbor({ v: 1, lease: payload, sig }) }
}

/**
 * Decode and verify a lease record. Throws InvalidLeaseError or a named wire
 * error (malformed, oversized, bad signature); never anything else.
 */
export async function decodeLease (record: Uint8Array, now: number = Date.now()): Promise<SignedLease> {
  const outer = decodeCbor(record, recordSchema, MAX_LEASE_BYTES + 256)
  const lease = decodeSigned(outer.lease, leaseSchema)
  if (lease.expiresAt < lease.issuedAt) throw new InvalidLeaseError('lease expires before it is issued')
  if (lease.expiresAt - lease.issuedAt > MAX_LEASE_MS) throw new InvalidLeaseError(`lease longer than ${MAX_LEASE_MS} ms`)
  if (lease.issuedAt > now + MAX_FUTURE_ISSUE_MS) throw new InvalidLeaseError('lease issued in the future')
  // The signer must be the holder the lease names: nobody leases for someone else.
  await verifyPayload(lease.holder, LEASE_SIGN_DOMAIN, outer.lease, outer.sig)
  return { lease, record }
}

/** DHT validator for the `mycel` namespace; rejects every key that is not a lease key. */
export async function validateLeaseRecord (key: Uint8Array, value: Uint8Array): Promise<void> {
  const parsed = parseLeaseKey(key)
  if (parsed === undefined) throw new InvalidLeaseError('not a lease key')
  const { lease } = await decodeLease(value)
  if (lease.region !== parsed.region || lease.role !== parsed.role) {
    throw new InvalidLeaseError(`lease for ${lease.region}/${lease.role} stored under ${parsed.region}/${parsed.role}`)
  }
}

export function compareTokens (a: FencingToken, b: FencingToken): number {
  if (a.term !== b.term) return a.term < b.term ? -1 : 1
  if (a.holder === b.holder) return 0
  return a.holder < b.holder ? -1 : 1
}

/** Record order: fencing token, then the holder's most recent statement. */
export function compareLeases (a: Lease, b: Lease): number {
  const t = compareTokens(a, b)
  if (t !== 0) return t
  if (a.issuedAt !== b.issuedAt) return a.issuedAt < b.issuedAt ? -1 : 1
  return a.expiresAt === b.expiresAt ? 0 : (a.expiresAt < b.expiresAt ? -1 : 1)
}

/**
 * DHT selector: index of the best record. Records that do not decode lose to
 * any that do (kad-dht validated them already; this is defence in depth).
 */
export function selectLeaseRecord (_key: Uint8Array, records: Uint8Array[]): number {
  let best = 0
  let bestLease: Lease | undefined
  records.forEach((record, i) => {
    const lease = peekLease(record)
    if (lease === undefined) return
    if (bestLease === undefined || compareLeases(lease, bestLease) > 0) {
      best = i
      bestLease = lease
    }
  })
  return best
}

/** Decode without verifying (the selector is synchronous; records were verified on receipt). */
function peekLease (record: Uint8Array): Lease | undefined {
  try {
    const outer = decodeCbor(record, recordSchema, MAX_LEASE_BYTES + 256)
    return decodeSigned(outer.lease, leaseSchema)
  } catch {
    return undefined
  }
}

export type LeaseStatus = 'active' | 'expired' | 'released'

/**
 * How a reader should treat a lease at `now` (reader's clock). `holderView`
 * is the holder's own conservative view: it stops `skew` early. Everyone
 * else treats the lease as in force until `skew` after its expiry.
 */
export function leaseStatus (lease: Lease, now: number, skew: number, holderView = false): LeaseStatus {
  if (lease.expiresAt === lease.issuedAt) return 'released'
  const end = holderView ? lease.expiresAt - skew : lease.expiresAt + skew
  return now < end ? 'active' : 'expired'
}

/**
 * `leaseStatus` for a reader that also knows from membership when the
 * holder was declared dead or gone (`goneAt`, reader's clock). The lease
 * then stays in force only `contactLapseMs` past that, however long it was
 * issued for: the holder stops acting `contactLapseMs` after it last heard
 * from any member, and a cut-off holder heard nobody after the moment it was
 * cut off, which came before anyone could declare it dead (and after it sent
 * anything a reader holds). A statement issued after the declaration (by
 * more than two clocks can differ) proves membership wrong or behind: the
 * holder reached us after it was declared gone, so its expiry alone counts.
 */
export function leaseStatusSeen (lease: Lease, now: number, skew: number, contactLapseMs: number, goneAt: number | undefined): LeaseStatus {
  if (lease.expiresAt === lease.issuedAt) return 'released'
  return now < leaseEndSeen(lease, skew, contactLapseMs, goneAt) ? 'active' : 'expired'
}

/** Until when (reader's clock) `leaseStatusSeen` calls the lease active; a release ended when it was issued. */
export function leaseEndSeen (lease: Lease, skew: number, contactLapseMs: number, goneAt: number | undefined): number {
  if (lease.expiresAt === lease.issuedAt) return lease.issuedAt
  const end = lease.expiresAt + skew
  if (goneAt === undefined || lease.issuedAt > goneAt + 2 * skew) return end
  return Math.min(end, goneAt + contactLapseMs + skew)
}

/** Validators/selectors for createNode's `dhtValidators` / `dhtSelectors`. */
export const leaseDhtValidators = { mycel: validateLeaseRecord }
export const leaseDhtSelectors = { mycel: selectLeaseRecord }
