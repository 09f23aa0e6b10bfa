/**
 * Spans of config writes (docs/tracing.md). The writer's span (`applied`)
 * names the envelope's trace context, which the writer signs into the
 * envelope (`tc`). Every receiver, whichever path brought the envelope
 * (gossip or anti-entropy), records two spans of operation `config.write`:
 *
 * - `received`, child of the writer's span: the envelope passed every
 *   check here and was taken for application;
 * - `applied`, child of `received`: from then until it is applied to the
 *   namespace's document and appended to the log (at once, or after
 *   envelopes it waited for in the hold-back buffer arrived).
 *
 * An envelope without `tc` (an older writer, a role's own write) records
 * nothing, nor does one signed longer than `maxAgeMs` ago (history a node
 * catches up on, constants.ts `traceMaxAgeMs`). Applied spans still open are bounded: past `maxOpen` the oldest
 * is ended with an error, as at stop, so a writer whose envelopes never
 * apply here cannot make this node hold spans forever.
 */
import type { Envelope } from '../../crdt/envelope.js'
import type { IngestOrigin } from '../../crdt/replica.js'
import type { Span, Tracer } from '../../wire/tracing.js'

/** The operation name of config-write spans. */
export const CONFIG_WRITE_SPAN = 'config.write'

/** Applied spans open at most; the hold-back buffer bounds how many envelopes can wait, so this is a safety net. */
const MAX_OPEN = 1024

const idOf = (e: Pick<Envelope, 'ns' | 'writer' | 'seq'>): string => `${e.ns}\n${e.writer}\n${e.seq}`

export class EnvelopeSpans {
  private readonly open = new Map<string, Span>()

  constructor (private readonly tracer: Tracer, private readonly maxAgeMs: number, private readonly maxOpen = MAX_OPEN) {}

  /** A remote envelope was taken for application (replica hook `onReceived`). */
  received (e: Envelope, origin: IngestOrigin): void {
    if (e.tc === undefined || Date.now() - e.time > this.maxAgeMs) return
    const attrs = { ns: e.ns, writer: e.writer, seq: e.seq, origin }
    const received = this.tracer.start(CONFIG_WRITE_SPAN, 'received', e.tc, attrs)
    // Clocks differ between nodes; the lag is still what an operator asks first.
    received.end({ lagMs: Math.max(0, Date.now() - e.time) })
    const id = idOf(e)
    if (this.open.has(id)) return
    if (this.open.size >= this.maxOpen) {
      const [oldest, span] = this.open.entries().next().value as [string, Span]
      this.open.delete(oldest)
      span.end({}, 'not applied: too many envelopes waiting')
    }
    this.open.set(id, this.tracer.start(CONFIG_WRITE_SPAN, 'applied', received.traceparent, attrs))
  }

  /** An envelope was applied (replica hook `onApplied`): ends its applied span. */
  applied (e: Envelope): void {
    // Every applied envelope comes here: untraced ones (most) cost nothing.
    if (e.tc === undefined || this.open.size === 0) return
    const id = idOf(e)
    const span = this.open.get(id)
    if (span === undefined) return
    this.open.delete(id)
    span.end()
  }

  /** The service stops: what never applied ends as such. */
  close (): void {
    for (const span of this.open.values()) span.end({}, 'not applied before the service stopped')
    this.open.clear()
  }
}
