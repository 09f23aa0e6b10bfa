/**
 * One query against this node's sources, as frames: the newest `limit`
 * matching lines of the range, merged by time and sent oldest first, then
 * `end`, then (follow) every new matching line. Network-free, so a unit
 * test drives it with plain sources; server.ts puts it on a stream.
 *
 * Memory: the merge holds one line per source and the selection a ring of
 * `limit` lines; the files are streamed. Sending awaits the writer, so a slow
 * reader slows the query down (back-pressure) instead of filling memory.
 */
import { FollowQueue } from './follow-queue.js'
import { contentFilter, queryFilter, type LineFilter } from './filter.js'
import { lineJson, type LogLine } from './line.js'
import { lastN, mergeByTime } from './merge.js'
import type { LogFrame, LogQuery } from './messages.js'
import type { LogSource } from './source.js'

export interface QueryOptions {
  /** Lines a follower may have queued (tunable followQueueLines). */
  followQueueLines: number
  /** Ends the follow phase (the reader went away, the agent stops). */
  signal: AbortSignal
  /** Lines a slow follower lost. */
  onDropped?: (n: number) => void
}

async function * matching (lines: AsyncIterable<LogLine>, keep: LineFilter): AsyncGenerator<LogLine> {
  for await (const l of lines) if (keep(l)) yield l
}

/** Run `q` over `sources`, sending every frame through `send` (which waits while the reader is behind). Throws InvalidLogQueryError before sending anything. */
export async function runQuery (q: LogQuery, sources: LogSource[], send: (frame: LogFrame) => Promise<void>, opts: QueryOptions): Promise<{ lines: number }> {
  const keep = queryFilter(q) // throws on a bad pattern, before anything is opened
  const live = q.follow === true ? contentFilter(q) : undefined
  const queue = q.follow === true ? new FollowQueue(opts.followQueueLines, opts.onDropped) : undefined
  const histories = sources.map(s => s.open(q.since, queue))
  let lines = 0
  const stop = (): void => { queue?.close() }
  opts.signal.addEventListener('abort', stop, { once: true })
  try {
    const { items, more } = await lastN(matching(mergeByTime(histories, l => l.t), keep), q.limit)
    for (const l of items) {
      await send({ v: 1, op: 'line', t: l.t, line: lineJson(l) })
      lines++
    }
    await send({ v: 1, op: 'end', more })
    if (queue === undefined || live === undefined || opts.signal.aborted) return { lines }
    const until = q.until ?? Number.POSITIVE_INFINITY
    for await (const item of queue) {
      if ('dropped' in item) {
        await send({ v: 1, op: 'gap', dropped: item.dropped })
      } else if (item.line.t < until && live(item.line)) {
        await send({ v: 1, op: 'line', t: item.line.t, line: lineJson(item.line) })
        lines++
      }
    }
    return { lines }
  } finally {
    opts.signal.removeEventListener('abort', stop)
    queue?.close()
  }
}
