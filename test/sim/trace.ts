/**
 * The last things that happened in a simulation, for the report of a failing
 * seed: a fixed-size ring, so a long run costs one small object per event and
 * no formatting unless a test fails and asks for it.
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

export class Trace {
  private readonly ring: TraceEvent[] = []
  private next = 0
  /** Events recorded over the whole run (the ring keeps the last `limit`). */
  total = 0

  constructor (readonly limit: number) {}

  add (ev: TraceEvent): void {
    if (this.limit <= 0) return
    this.total++
    if (this.ring.length < this.limit) this.ring.push(ev)
    else this.ring[this.next] = ev
    this.next = (this.next + 1) % this.limit
  }

  /** The kept events, oldest first. */
  events (): TraceEvent[] {
    return this.ring.length < this.limit ? [...this.ring] : [...this.ring.slice(this.next), ...this.ring.slice(0, this.next)]
  }

  /** One line per event, the last `last` of them, e.g. `t=1520 deliver v1 -> v3 vote h2 r0`. */
  format (describe: (msg: unknown) => string, last = 40): string {
    const evs = this.events().slice(-last)
    const lines = evs.map(e => {
      const route = e.from !== undefined && e.to !== undefined ? ` ${e.from} -> ${e.to}` : e.from !== undefined ? ` ${e.from}` : ''
      const body = e.msg !== undefined ? ` ${describe(e.msg)}` : ''
      return `  t=${e.at} ${e.kind}${route}${body}${e.text !== undefined ? ` ${e.text}` : ''}`
    })
    const skipped = this.total - evs.length
    return (skipped > 0 ? `  (${skipped} earlier events not shown)\n` : '') + lines.join('\n')
  }
}
