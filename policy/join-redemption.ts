/**
 * Both ends of redeeming a join token (join-token.ts):
 *  - the joining agent signs, with its own key, the entry that admits it
 *    (`redemption`), and sends it in its admission hello until admitted;
 *  - a node it reaches checks the entry with the validators' own rules and
 *    the clock, and relays it to them (`checkRedemption`), or tells the
 *    joiner in one line why not (expired, used up, forged, revoked).
 */
import { randomBytes } from 'node:crypto'
import type { PrivateKey } from '@libp2p/interface'
import type { CriticalState } from '../protocols/bft/critical-state.js'
import { grantId } from '../protocols/bft/critical-state.js'
import { ed25519Signer, signEntry } from '../protocols/bft/crypto.js'
import { MAX_ENTRY_TTL_MS } from '../protocols/bft/constants.js'
import { decodeEntry, encodeEntry } from '../protocols/bft/messages.js'
import type { Entry } from '../protocols/bft/types.js'
import type { Refusal } from '../lib/peer-admission.js'
import { ALLOW_PREFIX, REVOKED_PREFIX, allowEntryJson } from './admission-values.js'
import { grantedEntry } from './admission-authority.js'
import { InvalidJoinTokenError, decodeJoinToken, encodeJoinToken, type JoinToken } from './join-token.js'

/** Largest redemption accepted, bytes. */
export const MAX_REDEMPTION_BYTES = 4096
/** A redemption is signed to expire this long before the entry lifetime cap, ms (clock skew between joiner and validators). */
const SKEW_MS = 30_000

/** The joiner's signed entry admitting itself with `token`; re-sign when it nears `expiresAt`. */
export async function redemption (token: JoinToken, key: PrivateKey, peerId: string, now = Date.now()): Promise<Entry> {
  if (token.expiresAt <= now) throw new InvalidJoinTokenError('expired', `the join token expired at ${new Date(token.expiresAt).toISOString()}; ask an admin for a new one (mycel admission token create)`)
  return await signEntry(ed25519Signer(key, peerId), token.chain, {
    key: ALLOW_PREFIX + peerId,
    value: allowEntryJson(grantedEntry(token)),
    nonce: new Uint8Array(randomBytes(16)),
    expiresAt: Math.min(token.expiresAt, now + MAX_ENTRY_TTL_MS - SKEW_MS),
    grant: encodeJoinToken(token)
  })
}

/** Keeps one signed redemption and signs a new one when it is about to expire. */
export function redemptionSource (token: JoinToken, key: PrivateKey, peerId: string, admitted: () => boolean): () => Promise<Uint8Array | undefined> {
  let current: Entry | undefined
  return async () => {
    if (admitted()) return undefined
    const now = Date.now()
    if (current === undefined || current.expiresAt - now < SKEW_MS) {
      if (token.expiresAt <= now) return undefined
      current = await redemption(token, key, peerId, now)
    }
    return encodeEntry(current)
  }
}

/**
 * Check a joiner's redemption (`peer` is who sent it, Noise-authenticated)
 * and hand it to the validators through `relay`. A refusal with a reason the
 * joiner's agent can print; undefined once relayed.
 */
export async function checkRedemption (state: CriticalState, peer: string, raw: Uint8Array, relay: (e: Entry) => Promise<unknown>, now = Date.now()): Promise<Omit<Refusal, 'at'> | undefined> {
  let e: Entry
  let token: JoinToken
  try {
    e = decodeEntry(raw, MAX_REDEMPTION_BYTES)
    if (e.grant === undefined) throw new Error('no token in it')
    token = decodeJoinToken(e.grant)
  } catch (err) {
    return { reason: 'token_invalid', detail: `its join token redemption cannot be read: ${(err as Error).message}` }
  }
  if (e.admin !== peer) return { reason: 'token_invalid', detail: `the redemption is signed by ${e.admin}, not by the connecting peer ${peer}` }
  if (state.get(REVOKED_PREFIX + peer) !== undefined) return { reason: 'revoked', detail: `${peer} is revoked; a join token cannot admit it again` }
  if (token.expiresAt <= now) return { reason: 'token_expired', detail: `the join token expired at ${new Date(token.expiresAt).toISOString()}; ask an admin for a new one (mycel admission token create)` }
  const used = state.grantUses(grantId(e.grant))
  if (used >= token.uses) return { reason: 'token_used', detail: `the join token was already used ${used} of ${token.uses} time${token.uses === 1 ? '' : 's'}; ask an admin for a new one` }
  try {
    await relay(e)
  } catch (err) {
    const msg = (err as Error).message
    if (/already used/.test(msg)) return { reason: 'token_used', detail: `the join token ${msg}` }
    if (/expired/.test(msg)) return { reason: 'token_expired', detail: msg }
    return { reason: 'token_invalid', detail: `the join token is refused: ${msg}` }
  }
  return undefined
}
