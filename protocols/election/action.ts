/**
 * A fenced role action: what a holder sends to the members of its region.
 * It carries (region, role, term, holder) and is signed by the holder, so a
 * receiver can check both who sent it and whether that holder's term is
 * still the highest it has seen (FencingStore). The signed action keeps
 * fields this release does not know (docs/wire.md rule 1); the
 * `{v, action, sig}` wrapper ignores them.
 */
import { z } from 'zod'
import type { PrivateKey } from '@libp2p/interface'
import { bytes, decodeCbor, decodeSigned, encodeCbor } from '../../wire/codec.js'
import { signPayload, verifyPayload } from '../../wire/signing.js'
import { traced } from '../../wire/trace-context.js'
import { ACTION_SIGN_DOMAIN, MAX_ACTION_BYTES } from './constants.js'
import { regionSchema, roleSchema } from './lease.js'

export const actionSchema = z.object({
  v: z.literal(1),
  region: regionSchema,
  role: roleSchema,
  term: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
  holder: z.string().min(1).max(128),
  /** What the action is (`topology`, `region-metrics`, ...); receivers dispatch on it. */
  kind: z.string().regex(/^[a-z][a-z0-9-]{0,31}$/),
  /** Unix ms, holder's clock; with (term, holder) it orders a holder's actions. */
  issuedAt: z.number().int().nonnegative(),
  /** CBOR body, interpreted by the role's receiver for `kind`. */
  body: bytes(MAX_ACTION_BYTES),
  ...traced
})

export type RoleAction = z.infer<typeof actionSchema>

const envelopeSchema = z.object({
  v: z.literal(1),
  action: bytes(MAX_ACTION_BYTES + 1024),
  sig: bytes(128)
})

export interface SignedAction { action: RoleAction, bytes: Uint8Array }

export async function encodeAction (action: RoleAction, key: PrivateKey): Promise<Uint8Array> {
  const payload = encodeCbor(action)
  const sig = await signPayload(key, ACTION_SIGN_DOMAIN, payload)
  return encodeCbor({ v: 1, action: payload, sig })
}

/** Decode and verify the holder's signature; throws named wire errors only. */
export async function decodeAction (data: Uint8Array): Promise<RoleAction> {
  const outer = decodeCbor(data, envelopeSchema, MAX_ACTION_BYTES + 2048)
  const action = decodeSigned(outer.action, actionSchema)
  await verifyPayload(action.holder, ACTION_SIGN_DOMAIN, outer.action, outer.sig)
  return action
}
