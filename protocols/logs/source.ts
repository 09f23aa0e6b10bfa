/**
 * Where a node's lines come from: the agent's own store (store.ts) and, on a
 * node that runs components, the component host's log files
 * (host/component-logs.ts). A query opens every source at once and merges
 * their histories by time (merge.ts).
 */
import type { FollowQueue } from './follow-queue.js'
import type { LogLine } from './line.js'

export interface LogSource {
  /**
   * The source's lines, oldest first, from about `since` (a source may start
   * earlier: the query filters exactly); with `follow`, every line that comes
   * after this call is pushed there (none missed, none doubled) until the
   * queue is closed. Synchronous up to the returned iterable, so the history
   * and the followed lines split at one instant.
   */
  open: (since: number, follow?: FollowQueue) => AsyncIterable<LogLine>
}

/** The sources of a node right now (components come and go). */
export type LogSources = () => LogSource[]
