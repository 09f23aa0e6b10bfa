/**
 * The pino methods BFT code uses (pino's `Logger` satisfies it); the
 * simulator passes a silent one. Its own file so the WAL, the block store and
 * the consensus types need not import each other for it.
 */
export interface BftLogger {
  debug: (obj: object, msg: string) => void
  info: (obj: object, msg: string) => void
  warn: (obj: object, msg: string) => void
  error: (obj: object, msg: string) => void
}

export const silentLogger: BftLogger = { debug () {}, info () {}, warn () {}, error () {} }
