/**
 * Log store and log query tunables, one set per profile, validated when this
 * module loads; resolve with `logsTunables.defaults(profile)` (lib/tunables.ts).
 *
 * The store is the agent's own pino lines on disk: at most `files × maxFileBytes`
 * bytes per node (the live file may exceed its cap by one line). The
 * components' logs are the component host's own rotating files (host/constants.ts
 * `logMaxBytes × logFiles` each), read where they are, never copied.
 */
import { z } from 'zod'
import { defineTunables, tunable } from '../../lib/tunables.js'

/** The stream protocol a node's log store is queried over (docs/logs.md). */
export const LOGS_PROTOCOL = '/mycel/logs/1.0.0'

/** The `component` of the agent's own lines; a component is named as the host names it. */
export const AGENT_COMPONENT = 'agent'

/** Largest request frame, bytes: a query is a few short strings. */
export const MAX_REQUEST_BYTES = 4 * 1024
/** Longest `grep` pattern, characters (RE2 compiles in time linear in it, but it is still a request field). */
export const MAX_PATTERN_CHARS = 512
/** Largest line served, bytes: a longer line is cut and marked `truncated: true` (a frame must stay bounded). */
export const MAX_LINE_BYTES = 16 * 1024
/** Largest response frame accepted, bytes: one line's JSON text (JSON may escape a character into six) plus the frame. */
export const MAX_FRAME_BYTES = MAX_LINE_BYTES * 6 + 2048

export interface LogsConfig {
  /** The live store file is rotated once it is larger than this, bytes. */
  maxFileBytes: number
  /** Store files kept, the live one included: the node's cap is files × maxFileBytes. */
  files: number
  /**
   * Lines waiting to be written, bytes. A disk slower than the logger (or a
   * log storm) drops lines here, counted in mycel_logs_lines_dropped_total,
   * rather than growing the heap: stderr still gets every line.
   */
  maxPendingBytes: number
  /** How long appended lines wait to be written together, ms (one write per batch, not per line). */
  flushDelayMs: number
  /** Lines a follower may have queued; a slower reader loses the overflow and is told how many (a `gap` frame). */
  followQueueLines: number
  /** Lines a query returns when it names no limit. */
  defaultLimit: number
  /** Largest limit a query may ask for: the newest lines of a range are held in memory up to this count. */
  maxLimit: number
  /** The requester must send its request within this, ms. */
  requestTimeoutMs: number
  /** A history answer (everything before `end`) must be read within this, ms; a reader that stalls longer is cut. */
  historyTimeoutMs: number
  /** Queries one node serves at once (follows included); more are refused at the stream level. */
  maxInboundStreams: number
  /** How often the components' live log files are looked at (new lines stamped, followers fed), ms. */
  componentPollMs: number
  /** Per-node deadline of a fan-out query's history (the admin API), ms: a node that takes longer is reported missing. */
  fanoutTimeoutMs: number
}

const STANDARD: LogsConfig = {
  maxFileBytes: 8 * 1024 * 1024,
  files: 4,
  maxPendingBytes: 1024 * 1024,
  flushDelayMs: 200,
  followQueueLines: 2_000,
  defaultLimit: 1_000,
  maxLimit: 10_000,
  requestTimeoutMs: 5_000,
  historyTimeoutMs: 30_000,
  maxInboundStreams: 16,
  componentPollMs: 1_000,
  fanoutTimeoutMs: 10_000
}

export const logsTunables = defineTunables<LogsConfig>({
  module: 'logs',
  schema: z.strictObject({
    maxFileBytes: tunable.positive(),
    files: tunable.positive(),
    maxPendingBytes: tunable.positive(),
    flushDelayMs: tunable.positive(),
    followQueueLines: tunable.positive(),
    defaultLimit: tunable.positive(),
    maxLimit: tunable.positive(),
    requestTimeoutMs: tunable.positive(),
    historyTimeoutMs: tunable.positive(),
    maxInboundStreams: tunable.positive(),
    componentPollMs: tunable.positive(),
    fanoutTimeoutMs: tunable.positive()
  }),
  profiles: {
    lan: STANDARD,
    // Slower links: a far node's history takes longer to arrive.
    wan: { ...STANDARD, fanoutTimeoutMs: 20_000, historyTimeoutMs: 60_000 },
    // Small files so rotation happens in tests; fast polls so a followed line arrives within ~100 ms.
    test: { ...STANDARD, maxFileBytes: 512 * 1024, files: 3, maxPendingBytes: 256 * 1024, flushDelayMs: 20, componentPollMs: 100, fanoutTimeoutMs: 3_000, requestTimeoutMs: 2_000 }
  },
  relations: [
    t => t.defaultLimit <= t.maxLimit ? undefined : 'defaultLimit must not exceed maxLimit',
    t => t.files >= 2 ? undefined : 'files must be at least 2 (the live file and one rotated copy): with one, a rotation would empty the store',
    t => t.maxPendingBytes >= MAX_LINE_BYTES ? undefined : 'maxPendingBytes must hold at least one line (MAX_LINE_BYTES)',
    // One batch is at most maxPendingBytes; a batch that would overflow the live file rotates it first, so only this keeps every file within maxFileBytes.
    t => t.maxPendingBytes <= t.maxFileBytes ? undefined : 'maxPendingBytes must not exceed maxFileBytes (a batch must fit one file)'
  ]
})
