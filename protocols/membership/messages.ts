/**
 * Wire format of membership (deterministic CBOR via wire/codec.ts).
 *
 * A membership *update* is a signed statement about one member:
 *   alive   {id, inc, region, roles, addrs, ver, ts}   signed by the member itself
 *   left    {id, inc, ts}                              signed by the member itself
 *   suspect {id, inc, from, ts, refused}               signed by the accuser `from`
 *   dead    {id, inc, from, ts}                        signed by the accuser `from`
 * It travels as `{b: <CBOR body>, s: <signature>}` so any node can forward it
 * unchanged and every receiver verifies the originator. Nobody can declare
 * another node alive or left; anyone may accuse, and accusations are
 * answered by the SWIM rules (refutation with a higher incarnation).
 *
 * Stream messages (ping/ack, probe requests, push-pull) are not signed: they
 * run over Noise-authenticated connections, so the sender is the remote peer.
 * Updates piggybacked on them are signed as above.
 *
 * Evolution (docs/wire.md): a body keeps fields this release does not know
 * (`decodeSigned`), so a newer node's update verifies and is forwarded whole;
 * stream messages and the `{b, s}` wrapper ignore them. Bodies and stream
 * messages reserve the trace context `tc`.
 */
import { z } from 'zod'
import type { PrivateKey } from '@libp2p/interface'
import { bytes, decodeCbor, decodeSigned, encodeCbor } from '../../wire/codec.js'
import { signPayload, verifyPayload } from '../../wire/signing.js'
import { MalformedMessageError } from '../../wire/errors.js'
import { traced, type Traced } from '../../wire/trace-context.js'
import { UPDATE_SIGNING_DOMAIN } from './constants.js'

const peerIdStr = z.string().min(1).max(128)
const inc = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER)
const ts = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER)
const seq = z.number().int().min(0).max(0xffffffff)

export const AliveBodySchema = z.object({
  v: z.literal(1),
  t: z.literal('alive'),
  id: peerIdStr,
  inc,
  region: z.string().max(64),
  roles: z.array(z.string().max(64)).max(32),
  addrs: z.array(z.string().max(256)).max(16),
  ver: z.string().max(64),
  ts,
  ...traced
})

export const LeftBodySchema = z.object({ v: z.literal(1), t: z.literal('left'), id: peerIdStr, inc, ts, ...traced })

export const SuspectBodySchema = z.object({
  v: z.literal(1), t: z.literal('suspect'), id: peerIdStr, inc, from: peerIdStr, ts, refused: z.boolean(), ...traced
})

export const DeadBodySchema = z.object({ v: z.literal(1), t: z.literal('dead'), id: peerIdStr, inc, from: peerIdStr, ts, ...traced })

export const UpdateBodySchema = z.discriminatedUnion('t', [AliveBodySchema, LeftBodySchema, SuspectBodySchema, DeadBodySchema])

export type AliveBody = z.infer<typeof AliveBodySchema>
export type LeftBody = z.infer<typeof LeftBodySchema>
export type SuspectBody = z.infer<typeof SuspectBodySchema>
export type DeadBody = z.infer<typeof DeadBodySchema>
export type UpdateBody = z.infer<typeof UpdateBodySchema>
export type UpdateKind = UpdateBody['t']

/** A signed update as carried on the wire. */
export interface SignedUpdate { b: Uint8Array, s: Uint8Array }
export const signedUpdateSchema = (maxBytes: number): z.ZodType<SignedUpdate> =>
  z.object({ b: bytes(maxBytes), s: bytes(128) })

/** A verified update together with the exact bytes to forward. */
export interface Update<B extends UpdateBody = UpdateBody> { body: B, raw: SignedUpdate }

/** Who must have signed this update. */
export function signerOf (body: UpdateBody): string {
  return body.t === 'alive' || body.t === 'left' ? body.id : body.from
}

/**
 * Decode a body (no signature check); fields this release does not know stay
 * on it. Throws only the named wire errors.
 */
export function decodeBody (raw: SignedUpdate, maxBytes: number): UpdateBody {
  return decodeSigned(raw.b, UpdateBodySchema, maxBytes)
}

/** Throws InvalidSignatureError unless the update is signed by its originator. */
export async function verifyUpdate (body: UpdateBody, raw: SignedUpdate): Promise<void> {
  await verifyPayload(signerOf(body), UPDATE_SIGNING_DOMAIN, raw.b, raw.s)
}

export async function signUpdate<B extends UpdateBody> (key: PrivateKey, body: B): Promise<Update<B>> {
  const b = encodeCbor(body)
  const s = await signPayload(key, UPDATE_SIGNING_DOMAIN, b)
  return { body, raw: { b, s } }
}

/** CBOR size of one signed update inside a list (body + signature + map overhead). */
export function updateWireSize (raw: SignedUpdate): number {
  return raw.b.byteLength + raw.s.byteLength + 12
}

// ---- stream messages -------------------------------------------------------

export const pingSchema = (maxUpdate: number, maxUpdates: number) => z.object({
  v: z.literal(1), t: z.literal('ping'), seq, u: z.array(signedUpdateSchema(maxUpdate)).max(maxUpdates), ...traced
})
export const ackSchema = (maxUpdate: number, maxUpdates: number) => z.object({
  v: z.literal(1), t: z.literal('ack'), seq, u: z.array(signedUpdateSchema(maxUpdate)).max(maxUpdates), ...traced
})
export interface Ping extends Traced { v: 1, t: 'ping', seq: number, u: SignedUpdate[] }
export interface Ack extends Traced { v: 1, t: 'ack', seq: number, u: SignedUpdate[] }

export const ProbeReqSchema = z.object({
  v: z.literal(1), t: z.literal('preq'), seq, target: peerIdStr, timeoutMs: z.number().int().min(1).max(60_000),
  // false: ping over a connection already held, never dial (absent: dial, as before the field).
  dial: z.boolean().optional(),
  ...traced
})
export const ProbeResSchema = z.object({
  v: z.literal(1), t: z.literal('pres'), seq, ok: z.boolean(), refused: z.boolean(), ...traced
})
export type ProbeReq = z.infer<typeof ProbeReqSchema>
export type ProbeRes = z.infer<typeof ProbeResSchema>

/**
 * Push-pull request: either a 32-byte digest of our view (the responder says
 * whether its own digest matches, so converged nodes exchange ~100 bytes), or
 * our full state (the responder answers with its full state).
 */
export const ppDigestSchema = z.object({ v: z.literal(1), t: z.literal('digest'), d: bytes(32), ...traced })
export const ppDigestResSchema = z.object({ v: z.literal(1), t: z.literal('digest-res'), same: z.boolean(), ...traced })
export const ppFullSchema = (maxUpdate: number, maxUpdates: number) => z.object({
  v: z.literal(1), t: z.literal('full'), join: z.boolean(), u: z.array(signedUpdateSchema(maxUpdate)).max(maxUpdates), ...traced
})
export const ppRequestSchema = (maxUpdate: number, maxUpdates: number) =>
  z.discriminatedUnion('t', [ppDigestSchema, ppFullSchema(maxUpdate, maxUpdates)])
export type PushPullDigest = z.infer<typeof ppDigestSchema>
export type PushPullDigestRes = z.infer<typeof ppDigestResSchema>
export interface PushPullFull extends Traced { v: 1, t: 'full', join: boolean, u: SignedUpdate[] }

/** Decoders with the limits of one config; each throws only the named wire errors. */
export function decoders (cfg: { maxUpdateBytes: number, maxProbeBytes: number, maxPushPullBytes: number, maxMembers: number }) {
  const perProbe = Math.max(1, Math.floor(cfg.maxProbeBytes / 64))
  const perPushPull = cfg.maxMembers * 2
  const ping = pingSchema(cfg.maxUpdateBytes, perProbe)
  const ack = ackSchema(cfg.maxUpdateBytes, perProbe)
  const ppReq = ppRequestSchema(cfg.maxUpdateBytes, perPushPull)
  const ppFull = ppFullSchema(cfg.maxUpdateBytes, perPushPull)
  const signed = signedUpdateSchema(cfg.maxUpdateBytes)
  return {
    ping: (d: Uint8Array): Ping => decodeCbor(d, ping, cfg.maxProbeBytes) as Ping,
    ack: (d: Uint8Array): Ack => decodeCbor(d, ack, cfg.maxProbeBytes) as Ack,
    probeReq: (d: Uint8Array): ProbeReq => decodeCbor(d, ProbeReqSchema, cfg.maxProbeBytes),
    probeRes: (d: Uint8Array): ProbeRes => decodeCbor(d, ProbeResSchema, cfg.maxProbeBytes),
    ppRequest: (d: Uint8Array): PushPullDigest | PushPullFull => decodeCbor(d, ppReq, cfg.maxPushPullBytes) as PushPullDigest | PushPullFull,
    ppDigestRes: (d: Uint8Array): PushPullDigestRes => decodeCbor(d, ppDigestResSchema, cfg.maxPushPullBytes),
    ppFull: (d: Uint8Array): PushPullFull => decodeCbor(d, ppFull, cfg.maxPushPullBytes) as PushPullFull,
    /** A gossipsub payload: exactly one signed update. */
    gossip: (d: Uint8Array): SignedUpdate => decodeCbor(d, signed, cfg.maxUpdateBytes + 256),
    body: (raw: SignedUpdate): UpdateBody => decodeBody(raw, cfg.maxUpdateBytes)
  }
}
export type Decoders = ReturnType<typeof decoders>

export { encodeCbor as encode, MalformedMessageError }
