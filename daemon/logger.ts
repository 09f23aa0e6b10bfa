/** Structured JSON logs (pino) on stderr; stdout stays free for CLI output. */
import { pino, type Logger, type Level } from 'pino'

export type LogLevel = Level | 'silent'

export function createLogger (level: LogLevel, bindings: Record<string, unknown> = {}): Logger {
  return pino({ level, base: { pid: process.pid, ...bindings }, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination({ fd: 2, sync: false }))
}
