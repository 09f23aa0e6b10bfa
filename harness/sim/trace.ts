/**
 * The last things that happened in a simulation, for the report of a failing
 * seed: a fixed-size ring, so a long run costs a few array writes per event
 * and no formatting unless a test fails and asks for it.
 */

export type TraceKind =
  /** A message was put on a link. */
  | 'send'
  /** A send refused: sender down, or receiver down / partitioned / link cut at send time. */
  | 'unreachable'
  /** A message the network dropped at random (link or node fault). */
  | 'drop'
  /** A second copy of a message was put on the link. */
  | 'duplicate'
  | 'deliver'
  /** In flight when the receiver crashed, restarted or was partitioned away. */
  | 'lost'
  /** Removed from the wire by `dropInFlight`. */
  | 'cut'
  | 'partition' | 'heal' | 'crash' | 'restart' | 'faults'
  /** Written by the simulator itself (`note`). */
  | 'note'

export interface TraceEvent {
  at: number
  kind: TraceKind
  from?: string
  to?: string
  /** The message, described only when the trace is formatted. */
  msg?: unknown
  text?: string
}

/** Ring of the last `limit` events, kept in parallel arrays: recording allocates nothing. */
export class Trace {
  private readonly at: Float64Array
  private readonly kind: TraceKind[]
  private readonly from: Array<string | undefined>
  private readonly to: Array<string | undefined>
  private readonly msg: unknown[]
  private readonly text: Array<string | undefined>
  private next = 0
  /** Events recorded over the whole run (the ring keeps the last `limit`). */
  total = 0

  constructor (readonly limit: number) {
    this.at = new Float64Array(Math.max(0, limit))
    this.kind = new Array(limit)
    this.from = new Array(limit)
    this.to = new Array(limit)
    this.msg = new Array(limit)
    this.text = new Array(limit)
  }

  add (at: number, kind: TraceKind, from?: string, to?: string, msg?: unknown, text?: string): void {
    if (this.limit <= 0) return
    const i = this.next
    this.at[i] = at
    this.kind[i] = kind
    this.from[i] = from
    this.to[i] = to
    this.msg[i] = msg
    this.text[i] = text
    this.next = (i + 1) % this.limit
    this.total++
  }

  /** The kept events, oldest first. */
  events (): TraceEvent[] {
    const n = Math.min(this.total, this.limit)
    const out: TraceEvent[] = []
    for (let k = 0; k < n; k++) {
      const i = (this.next - n + k + this.limit) % this.limit
      out.push({ at: this.at[i], kind: this.kind[i], from: this.from[i], to: this.to[i], msg: this.msg[i], text: this.text[i] })
    }
    return out
  }

  /** One line per event, the last `last` of them, e.g. `t=1520 deliver v1 -> v3 vote pv h2 r0 …`. */
  format (describe: (msg: unknown) => string, label: (id: string) => string = id => id, last = 40): string {
    const evs = this.events().slice(-last)
    const lines = evs.map(e => {
      const from = e.from === undefined ? '' : ` ${label(e.from)}`
      const route = e.to === undefined ? from : `${from} -> ${label(e.to)}`
      const body = e.msg !== undefined ? ` ${describe(e.msg)}` : ''
      return `  t=${e.at} ${e.kind}${route}${body}${e.text !== undefined ? ` ${e.text}` : ''}`
    })
    const skipped = this.total - evs.length
    return (skipped > 0 ? `  (${skipped} earlier events not shown)\n` : '') + lines.join('\n')
  }
}
