/**
 * yamux window updates once half a stream's receive window is used, as
 * hashicorp/yamux (and so Consul, Nomad and Serf's RPC) sends them.
 *
 * `@libp2p/yamux` (8.0) answers every data frame a stream receives with a
 * WINDOW_UPDATE frame for the bytes it just took: one more yamux frame, Noise
 * packet, socket write and, at the peer, one more read, wake-up, decryption
 * and frame to decode, for every message. mycel's streams carry small
 * messages (a probe and its ack, a gossip message, a lease) and are never
 * near their window, so about half of an agent's packets at rest were these
 * updates. hashicorp/yamux's `sendWindowUpdate` omits an update that carries
 * no flags and gives back less than half the window; this applies that rule to
 * `@libp2p/yamux`'s streams. A sender still has at least half a window to
 * send into at any time, so a bulk transfer is not held up; a frame with
 * flags (SYN, ACK) and the update after a pause are sent as before; the
 * window's growth (the library's doubling when a window is used up within four
 * round trips) is judged per update sent, as before. The rule is the
 * receiver's alone: any yamux peer accepts fewer, larger updates (the spec
 * only requires that a sender never exceed the window it was given).
 *
 * A change to the library's stream (a field or the method renamed) fails
 * `installYamuxWindowUpdateRule` loudly at start, never silently
 * (test/daemon/yamux-window-updates.test.ts runs it against the library).
 * Upstream, the fix belongs in `YamuxStream.sendWindowUpdate`.
 */
import { YamuxStream, StreamState } from '@libp2p/yamux/stream'

/** The fields of `YamuxStream` the rule reads (private in its typings). */
interface WindowFields {
  state: StreamState
  recvWindow: number
  recvWindowCapacity: number
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

/**
 * Install the rule on every `YamuxStream` of this process (idempotent).
 * Throws `YamuxPatchError` if the library no longer has what it replaces.
 */
export function installYamuxWindowUpdateRule (): void {
  const proto = YamuxStream.prototype as unknown as WindowFields & { [INSTALLED]?: true }
  if (proto[INSTALLED] === true) return
  const original = proto.sendWindowUpdate
  if (typeof original !== 'function') throw new YamuxPatchError('no sendWindowUpdate method')
  if (typeof StreamState.Established !== 'number' || typeof StreamState.Paused !== 'number') throw new YamuxPatchError('no StreamState')
  proto.sendWindowUpdate = function sendWindowUpdate (this: WindowFields): void {
    if (typeof this.recvWindow !== 'number' || typeof this.recvWindowCapacity !== 'number') throw new YamuxPatchError('no recvWindow fields')
    if (flagless(this.state) && this.recvWindow - this.recvWindowCapacity < this.recvWindow / 2) return
    original.call(this)
  }
  proto[INSTALLED] = true
}
