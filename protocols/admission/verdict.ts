/**
 * The admission service's verdict shapes and small helpers: what a judged
 * hello becomes, the bookkeeping of peers the policy has not admitted yet,
 * and waiting for a verdict with a deadline.
 */
import type { Connection } from '@libp2p/interface'
import type { Refusal } from '../../lib/peer-admission.js'
import type { RpcHost } from '../../wire/rpc.js'
import { encodeHello, type Hello } from './hello.js'

/** A verdict still to come: streams of the peer wait on `promise`. */
export interface Pending { promise: Promise<boolean>, resolve: (ok: boolean) => void }

/** A peer past the genesis check that the policy has not admitted yet. */
export interface Limited { why: 'joining' | 'catching-up' | 'held', hello: Hello, conn: Connection, since: number, caughtUp: boolean, denied: boolean }

export type Verdict = { kind: 'admit' } | { kind: 'refuse', refusal: Omit<Refusal, 'at'> } | { kind: 'limit', why: Limited['why'], hello: Hello }

/** How `GET /v1/admission` names a connected peer that is not admitted. */
export function verdictOf (l: Limited | undefined): 'pending' | 'joining' | 'catching-up' {
  return l === undefined || l.why === 'held' ? 'pending' : l.why
}

/** Re-encode a decoded hello (to judge a limited peer again on what it sent). */
export function encodeHelloOf (h: Hello): Uint8Array {
  return encodeHello(h.genesis === null ? undefined : { genesis: h.genesis, networkId: h.networkId as string }, { height: h.height, join: h.join })
}

/** A requester whose streams open on one given connection (the handshake must not dial). */
export function hostOn (conn: Connection): Pick<RpcHost, 'dialProtocol'> {
  return {
    dialProtocol: async (_peer, protocols, options) => await conn.newStream(protocols, options)
  }
}

/** The verdict, or false after `ms` or when `signal` aborts. */
export async function raceVerdict (verdict: Promise<boolean>, ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted === true) return false
  return await new Promise<boolean>(resolve => {
    const done = (ok: boolean): void => {
      clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
      resolve(ok)
    }
    const onAbort = (): void => { done(false) }
    const timer = setTimeout(() => { done(false) }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
    verdict.then(done, () => { done(false) })
  })
}
