/**
 * Structured JSON logs (pino) on stderr; stdout stays free for CLI output.
 * Every line also goes to the node's log store (protocols/logs: served to
 * `mycel logs`) through a tap: the store attaches once the data dir is
 * locked; until then (and between two agents of one process, a restart
 * under a new key) the tap holds the latest lines, bounded, and hands them
 * over on attach, so the start-up lines are in the store too.
 */
import { pino, type Logger, type Level } from 'pino'
import type { LogTap } from '../protocols/logs/index.js'

export type LogLevel = Level | 'silent'

type Sink = { append: (raw: string) => void }

/** Bytes the tap holds while no store is attached (the oldest go first). */
const TAP_HOLD_BYTES = 256 * 1024

class StoreTap implements LogTap {
  private sink?: Sink
  private held: string[] = []
  private heldBytes = 0

  /** pino's destination interface: one serialised line per call. */
  write (line: string): void {
    if (this.sink !== undefined) { this.sink.append(line); return }
    this.held.push(line)
    this.heldBytes += line.length
    while (this.heldBytes > TAP_HOLD_BYTES && this.held.length > 0) this.heldBytes -= this.held.shift()!.length
  }

  attach (sink: Sink): void {
    this.sink = sink
    const held = this.held
    this.held = []
    this.heldBytes = 0
    for (const line of held) sink.append(line)
  }

  detach (sink: Sink): void {
    if (this.sink === sink) this.sink = undefined
  }
}

const taps = new WeakMap<Logger, LogTap>()

export function createLogger (level: LogLevel, bindings: Record<string, unknown> = {}): Logger {
  const tap = new StoreTap()
  const logger = pino({ level, base: { pid: process.pid, ...bindings }, timestamp: pino.stdTimeFunctions.isoTime },
    pino.multistream([{ level: 'trace', stream: pino.destination({ fd: 2, sync: false }) }, { level: 'trace', stream: tap }]))
  taps.set(logger, tap)
  return logger
}

/** The store tap of a logger made by createLogger (undefined for any other logger: a test's). */
export function logTap (logger: Logger): LogTap | undefined {
  return taps.get(logger)
}
