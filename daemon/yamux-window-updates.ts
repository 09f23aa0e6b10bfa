/**
 * yamux window updates once a stream has used half its receive window, as
 * hashicorp/yamux (the muxer of Consul and Nomad) sends them.
 *
 * `@libp2p/yamux` (8.0) answers every data frame a stream receives with a
 * WINDOW_UPDATE frame for the bytes it just took: one more yamux frame, Noise
 * packet, socket write and, at the peer, one more read, wake-up, decryption
 * and frame to decode, for every message. mycel's streams carry small
 * messages (a probe and its ack, a gossip message, a lease) and are never
 * near their window, so about two packets in five of an agent at rest were
 * these updates. hashicorp/yamux's `sendWindowUpdate` omits an update that
 * carries no flags and gives back less than half the window; this applies
 * that rule to `@libp2p/yamux`'s streams, with one refinement for transfers:
 *
 *  - the receiver never holds back half a window or more, so a sender whose
 *    credit runs out gets it back once the receiver has taken half;
 *  - an update with flags (the SYN opening a stream, the ACK answering one)
 *    is sent as before; a paused stream (its reader's buffer full) sends
 *    nothing until it resumes, as before, and on resume updates only if half
 *    the window was used (a sender with more than half left is not blocked);
 *  - the library grows a stream's window (doubling, up to its maximum) when
 *    the window was used within four round trips of the last update. While a
 *    stream is that busy, the update goes out once an eighth is used instead
 *    of half, so a transfer on a fresh stream over a slow link grows its
 *    window about as fast as with an update per frame (go-yamux grows its
 *    window the same way, per update sent).
 *
 * The rule is the receiver's alone: any yamux peer accepts fewer, larger
 * updates (the spec only requires that a sender never exceed its window).
 * If the library's stream no longer has a field the rule reads, the first
 * update puts the library's own method back and the process warns once
 * (`YamuxPatchError`); test/daemon/yamux-window-updates.test.ts checks the
 * fields on real streams. Upstream, the fix belongs in
 * `YamuxStream.sendWindowUpdate`.
 */
import { YamuxStream, StreamState } from '@libp2p/yamux/stream'

/** The fields of `YamuxStream` the rule reads (private in its typings). */
export interface WindowFields {
  state: StreamState
  recvWindow: number
  recvWindowCapacity: number
  maxStreamWindowSize: number
  epochStart: number
  getRTT: () => number
  sendWindowUpdate: () => void
}

export class YamuxPatchError extends Error {
  constructor (what: string) {
    super(`@libp2p/yamux's stream changed (${what}); daemon/yamux-window-updates.ts must be looked at again`)
    this.name = 'YamuxPatchError'
  }
}

const INSTALLED = Symbol.for('mycel.yamux-window-update-rule')

/** Whether an update would go out with no flags (`getSendFlags` without its side effect). */
function flagless (state: StreamState): boolean {
  return state === StreamState.SYNSent || state === StreamState.Established || state === StreamState.Finished
}

/** Whether `s` has every field the rule reads, of the expected type. */
export function hasWindowFields (s: Partial<WindowFields>): boolean {
  return typeof s.recvWindow === 'number' && typeof s.recvWindowCapacity === 'number' &&
    typeof s.maxStreamWindowSize === 'number' && typeof s.epochStart === 'number' && typeof s.getRTT === 'function'
}

/**
 * Whether a stream may leave out the window update the library would send
 * now: no flags go with it, and less than half the window is used (an eighth
 * while the window is used within four round trips of the last update, the
 * library's condition for growing it).
 */
export function mayOmitUpdate (s: WindowFields, now: number): boolean {
  if (!flagless(s.state)) return false
  const used = s.recvWindow - s.recvWindowCapacity
  const rtt = s.getRTT()
  const growing = rtt > -1 && s.recvWindow < s.maxStreamWindowSize && now - s.epochStart <= 4 * rtt
  return used < s.recvWindow / (growing ? 8 : 2)
}

/**
 * Install the rule on every `YamuxStream` of this process (idempotent).
 * Throws `YamuxPatchError` if the library no longer has the method it replaces.
 */
export function installYamuxWindowUpdateRule (): void {
  const proto = YamuxStream.prototype as unknown as WindowFields & { [INSTALLED]?: true }
  if (proto[INSTALLED] === true) return
  const original = proto.sendWindowUpdate
  if (typeof original !== 'function') throw new YamuxPatchError('no sendWindowUpdate method')
  if (typeof StreamState.Established !== 'number' || typeof StreamState.Paused !== 'number') throw new YamuxPatchError('no StreamState')
  // The fields are the instances', so the first update checks them once for the process: every stream is of this
  // one class. Without them the library's own method goes back, which is always safe; only the saving is lost.
  let checked = false
  proto.sendWindowUpdate = function sendWindowUpdate (this: WindowFields): void {
    if (!checked) {
      checked = true
      if (!hasWindowFields(this)) {
        proto.sendWindowUpdate = original
        process.emitWarning(new YamuxPatchError('a window field is missing'))
        original.call(this)
        return
      }
    }
    if (!mayOmitUpdate(this, Date.now())) original.call(this)
  }
  proto[INSTALLED] = true
}
