/**
 * The requesting side of `/mycel/logs/1.0.0`: one request, then the frames
 * as they arrive (the reader's pace sets the sender's: yamux flow control).
 * An `error` frame becomes LogQueryRefusedError; a frame that does not
 * decode ends the query with MalformedMessageError.
 */
import type { PeerId } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import type { RpcHost } from '../../wire/rpc.js'
import { LOGS_PROTOCOL, MAX_FRAME_BYTES } from './constants.js'
import { LogQueryRefusedError } from './errors.js'
import { decodeLogFrame, encodeLogRequest, type LogFrame, type LogQuery } from './messages.js'

export async function * queryPeer (host: Pick<RpcHost, 'dialProtocol'>, peer: PeerId, q: LogQuery, signal: AbortSignal): AsyncGenerator<LogFrame> {
  const stream = await host.dialProtocol(peer, LOGS_PROTOCOL, { signal })
  const lp = lpStream(stream, { maxDataLength: MAX_FRAME_BYTES })
  let clean = false
  try {
    await lp.write(encodeLogRequest(q), { signal })
    while (true) {
      let bytes
      try {
        bytes = await lp.read({ signal })
      } catch (err) {
        const name = (err as Error).name
        if (name === 'UnexpectedEOFError' || name === 'StreamClosedError') break
        throw err
      }
      const frame = decodeLogFrame(bytes.subarray())
      if (frame.op === 'error') throw new LogQueryRefusedError(frame.error)
      yield frame
    }
    clean = true
  } finally {
    // Done, refused, or the consumer stopped early (a follow ended): close, or reset on failure.
    if (clean) await stream.close({ signal }).catch(() => {})
    else stream.abort(new Error('log query ended'))
  }
}
