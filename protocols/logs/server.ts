/**
 * The `/mycel/logs/1.0.0` server: reads one request frame, answers with the
 * query's frames (query.ts) over the same stream. Only admitted members
 * query: the admission gate holds every stream of a peer that is not
 * admitted (protocols/admission), and this handler also refuses a peer
 * membership does not list. A bad request gets one `error` frame; nothing a
 * peer sends throws past the handler (counted in mycel_logs_queries_total).
 */
import type { Connection, Stream } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import type { Logger } from 'pino'
import type { RpcHost } from '../../wire/rpc.js'
import { rejectReason } from '../../wire/errors.js'
import { LOGS_PROTOCOL, MAX_REQUEST_BYTES, type LogsConfig } from './constants.js'
import { InvalidLogQueryError } from './errors.js'
import { decodeLogRequest, encodeLogFrame, type LogFrame, type LogQuery } from './messages.js'
import type { LogsMetrics } from './metrics.js'
import { runQuery } from './query.js'
import type { LogSources } from './source.js'

export interface LogServerInit {
  host: Pick<RpcHost, 'handle' | 'unhandle'>
  sources: LogSources
  config: Pick<LogsConfig, 'maxLimit' | 'requestTimeoutMs' | 'historyTimeoutMs' | 'maxInboundStreams' | 'followQueueLines'>
  metrics: LogsMetrics
  /** A peer membership lists (alive or not): only members query. */
  isMember: (peerId: string) => boolean
  logger: Pick<Logger, 'debug'>
}

/** The query a request asks for, or InvalidLogQueryError (the limit is this node's own bound). */
export function checkQuery (q: LogQuery, maxLimit: number): LogQuery {
  if (q.limit > maxLimit) throw new InvalidLogQueryError(`limit ${q.limit} is above this node's maximum ${maxLimit}; page with until`)
  if (q.until !== undefined && q.until <= q.since) throw new InvalidLogQueryError('until must be after since')
  return q
}

export class LogServer {
  private readonly active = new Set<AbortController>()
  private running = false

  constructor (private readonly init: LogServerInit) {}

  async start (): Promise<void> {
    if (this.running) return
    await this.init.host.handle(LOGS_PROTOCOL, (stream, conn) => { void this.serve(stream, conn) }, { maxInboundStreams: this.init.config.maxInboundStreams, maxOutboundStreams: 16 })
    this.running = true
  }

  async stop (): Promise<void> {
    if (!this.running) return
    this.running = false
    await this.init.host.unhandle(LOGS_PROTOCOL).catch(() => {})
    for (const c of this.active) c.abort()
    this.active.clear()
  }

  private async serve (stream: Stream, conn: Connection): Promise<void> {
    const { config, metrics } = this.init
    const peer = conn.remotePeer.toString()
    const lp = lpStream(stream, { maxDataLength: MAX_REQUEST_BYTES })
    const done = new AbortController()
    this.active.add(done)
    // The history (every frame up to `end`) has a deadline; a follow then lasts until either side ends it.
    let history: AbortSignal | undefined
    let historyDone = false
    const send = async (frame: LogFrame): Promise<void> => {
      await lp.write(encodeLogFrame(frame), { signal: history !== undefined && !historyDone ? AbortSignal.any([history, done.signal]) : done.signal })
    }
    try {
      let q: LogQuery
      try {
        const req = await lp.read({ signal: AbortSignal.timeout(config.requestTimeoutMs) })
        if (!this.init.isMember(peer)) throw new InvalidLogQueryError('only members of this network may query its logs')
        q = checkQuery(decodeLogRequest(req.subarray()), config.maxLimit)
      } catch (err) {
        metrics.queries.inc({ result: 'refused' })
        const reason = err instanceof InvalidLogQueryError
          ? err.message
          : (err as Error).name === 'InvalidDataLengthError'
              ? `bad request (oversized): larger than ${MAX_REQUEST_BYTES} bytes`
              : `bad request (${rejectReason(err)}): ${(err as Error).message}`
        this.init.logger.debug({ peer, reason }, 'log query refused')
        await lp.write(encodeLogFrame({ v: 1, op: 'error', error: reason.slice(0, 1024) }), { signal: AbortSignal.timeout(config.requestTimeoutMs) }).catch(() => {})
        await stream.close().catch(() => {})
        return
      }
      history = AbortSignal.timeout(config.historyTimeoutMs)
      if (q.follow === true) {
        metrics.following.inc()
        // The reader closing its side (or resetting the stream) ends the follow.
        void lp.read({ signal: done.signal }).then(() => { done.abort() }, () => { done.abort() })
      }
      try {
        const { lines } = await runQuery(q, this.init.sources(), async (f) => {
          await send(f)
          if (f.op === 'end') historyDone = true
        }, {
          followQueueLines: config.followQueueLines,
          signal: done.signal,
          onDropped: (n) => { metrics.dropped.inc({ reason: 'follower_slow' }, n) }
        })
        metrics.served.inc(lines)
      } catch (err) {
        if (err instanceof InvalidLogQueryError) {
          metrics.queries.inc({ result: 'refused' })
          await send({ v: 1, op: 'error', error: err.message.slice(0, 1024) }).catch(() => {})
          await stream.close().catch(() => {})
          return
        }
        throw err
      } finally {
        if (q.follow === true) metrics.following.dec()
      }
      metrics.queries.inc({ result: 'ok' })
      await stream.close().catch(() => {})
    } catch (err) {
      // The reader went away, was too slow, or the agent stops: not the server's failure.
      metrics.queries.inc({ result: done.signal.aborted ? 'ok' : 'error' })
      this.init.logger.debug({ peer, err: rejectReason(err) }, 'log query ended early')
      stream.abort(err as Error)
    } finally {
      done.abort()
      this.active.delete(done)
    }
  }
}
