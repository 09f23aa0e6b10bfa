/**
 * Join tokens (docs/security.md "Admit a host with a join token"): an
 * admin-signed statement "whoever presents this may join network <chain>,
 * in these regions, until <expiresAt>, <uses> times". Any node verifies one
 * offline against the admins in its committed critical config; nothing is
 * committed when a token is made. A joining agent redeems it by signing,
 * with its own key, the critical entry `admission/allow/<its id>` carrying
 * the token as the entry's grant; validators count each grant's uses, so a
 * token admits at most `uses` hosts network-wide (admission-authority.ts).
 *
 * Text form: `mycel-join1.<base64url of the CBOR>`, one copy-pasteable word.
 */
import { randomBytes } from 'node:crypto'
import type { PrivateKey } from '@libp2p/interface'
import { z } from 'zod'
import { bytes, decodeCbor, encodeCbor } from '../wire/codec.js'
import { signPayload } from '../wire/signing.js'
import { REGION_PATTERN, REGION_RULE } from '../lib/region.js'
import { hex } from '../lib/bytes.js'
import { isEd25519PeerId } from '../protocols/bft/genesis.js'
import type { Verifier } from '../protocols/bft/crypto.js'

export const TOKEN_PREFIX = 'mycel-join1.'
export const TOKEN_DOMAIN = 'mycel-join-token'
/** Largest token accepted, bytes of CBOR (a token is ~200 bytes). */
export const MAX_TOKEN_BYTES = 1024
/** Most uses one token may grant. */
export const MAX_TOKEN_USES = 10_000
/** Longest token life, ms: a token is a bearer secret; one that lives for ever is a standing door. */
export const MAX_TOKEN_TTL_MS = 30 * 24 * 3600_000

export class InvalidJoinTokenError extends Error {
  static name = 'InvalidJoinTokenError'
  override name = 'InvalidJoinTokenError'
  /** Stable reason for the joiner's message and metrics. */
  constructor (readonly reason: 'malformed' | 'wrong_network' | 'not_admin' | 'bad_signature' | 'expired' | 'used' | 'revoked' | 'region', message: string) {
    super(message)
  }
}

export interface JoinToken {
  v: 1
  /** Genesis hash of the network it admits to. */
  chain: Uint8Array
  /** 16 random bytes: names the token in audit records. */
  id: Uint8Array
  /** The admin that signed it. */
  admin: string
  expiresAt: number
  uses: number
  /** Regions the joiner may be a member of; null: any. */
  regions: string[] | null
  signature: Uint8Array
}

const tokenSchema: z.ZodType<JoinToken> = z.object({
  v: z.literal(1),
  chain: bytes(32).refine(b => b.byteLength === 32, { message: 'must be 32 bytes' }),
  id: bytes(16).refine(b => b.byteLength === 16, { message: 'must be 16 bytes' }),
  admin: z.string().min(1).max(128).refine(isEd25519PeerId, { message: 'not an Ed25519 peer id' }),
  expiresAt: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  uses: z.number().int().min(1).max(MAX_TOKEN_USES),
  regions: z.array(z.string().regex(REGION_PATTERN, REGION_RULE)).min(1).max(64).nullable(),
  signature: bytes(128)
}).strict()

function signBytes (t: Omit<JoinToken, 'signature'>): Uint8Array {
  const { signature: _s, ...fields } = t as Partial<JoinToken>
  return encodeCbor(fields)
}

export interface CreateTokenOptions {
  chain: Uint8Array
  admin: string
  key: PrivateKey
  ttlMs: number
  uses: number
  regions?: string[]
  now?: number
}

export async function createJoinToken (o: CreateTokenOptions): Promise<JoinToken> {
  const unsigned: Omit<JoinToken, 'signature'> = {
    v: 1,
    chain: o.chain,
    id: new Uint8Array(randomBytes(16)),
    admin: o.admin,
    expiresAt: (o.now ?? Date.now()) + o.ttlMs,
    uses: o.uses,
    regions: o.regions === undefined || o.regions.length === 0 ? null : [...new Set(o.regions)].sort()
  }
  tokenSchema.parse({ ...unsigned, signature: new Uint8Array(64) })
  return { ...unsigned, signature: await signPayload(o.key, TOKEN_DOMAIN, signBytes(unsigned)) }
}

export function encodeJoinToken (t: JoinToken): Uint8Array { return encodeCbor(t) }

export function decodeJoinToken (data: Uint8Array): JoinToken {
  try {
    return decodeCbor(data, tokenSchema, MAX_TOKEN_BYTES)
  } catch (err) {
    throw new InvalidJoinTokenError('malformed', `not a join token: ${(err as Error).message}`)
  }
}

export function joinTokenText (t: JoinToken): string {
  return TOKEN_PREFIX + Buffer.from(encodeJoinToken(t)).toString('base64url')
}

/** Parse the text form; throws InvalidJoinTokenError('malformed'). */
export function parseJoinTokenText (text: string): JoinToken {
  const s = text.trim()
  if (!s.startsWith(TOKEN_PREFIX)) throw new InvalidJoinTokenError('malformed', `a join token starts with ${TOKEN_PREFIX} (made by \`mycel admission token create\`)`)
  const b64 = s.slice(TOKEN_PREFIX.length)
  if (!/^[A-Za-z0-9_-]+$/.test(b64) || b64.length > MAX_TOKEN_BYTES * 2) throw new InvalidJoinTokenError('malformed', 'the join token is not base64url')
  return decodeJoinToken(new Uint8Array(Buffer.from(b64, 'base64url')))
}

export function tokenIdHex (t: JoinToken): string { return hex(t.id) }

/**
 * The checks that need no clock: right network, signed by a current admin.
 * Throws InvalidJoinTokenError.
 */
export async function verifyJoinToken (t: JoinToken, chain: Uint8Array, admins: ReadonlySet<string>, verify: Verifier): Promise<void> {
  if (Buffer.compare(t.chain, chain) !== 0) throw new InvalidJoinTokenError('wrong_network', `the join token is for network ${hex(t.chain).slice(0, 16)}, not this one (${hex(chain).slice(0, 16)})`)
  if (!admins.has(t.admin)) throw new InvalidJoinTokenError('not_admin', `the join token was signed by ${t.admin}, which is not an admin of this network`)
  if (!await verify(t.admin, TOKEN_DOMAIN, signBytes(t), t.signature)) throw new InvalidJoinTokenError('bad_signature', 'the join token\'s signature does not verify (forged or altered)')
}
