/**
 * The agent's Tracer (wire/tracing.ts): one per agent, made before the
 * parts that record spans and stopped after them. Every span is a log line
 * of this node (msg `span`, in its log store, where `mycel trace` finds
 * it); with `otlpEndpoint` set it is also exported over OTLP/HTTP
 * (otlp-export.ts), and stopping flushes what is queued.
 */
import type { Logger } from 'pino'
import type { Startable } from '../lib/lifecycle.js'
import type { ProfileName } from '../lib/tunables.js'
import { logTracer, type Tracer } from '../wire/tracing.js'
import type { OtlpExport } from './otlp-export.js'
import { otlpTunables } from './tracing-constants.js'

export interface AgentTracingInit {
  logger: Logger
  /** This node's peer id: the `mycel.node` attribute of every exported span. */
  node: string
  region: string
  version: string
  profile: ProfileName
  /** OTLP/HTTP traces URL (agent config `otlpEndpoint`); none: spans go to the log store only. */
  otlpEndpoint?: string
}

export class AgentTracing implements Startable {
  readonly tracer: Tracer
  private otlp: OtlpExport | undefined

  constructor (private readonly init: AgentTracingInit) {
    // A log line needs no node or region: the log store stamps every line with its node.
    this.tracer = logTracer(init.logger, init.otlpEndpoint === undefined ? [] : [(s) => { this.otlp?.export(s) }])
  }

  /**
   * Loads the OpenTelemetry SDK only when spans are exported: it is ~250
   * modules (≈ 0.75 MB of source, several MB of heap) that an agent without
   * `otlpEndpoint` never uses (docs/performance.md).
   */
  async start (): Promise<void> {
    const { init } = this
    if (init.otlpEndpoint === undefined || this.otlp !== undefined) return
    const { otlpExport } = await import('./otlp-export.js')
    this.otlp = otlpExport({
      endpoint: init.otlpEndpoint,
      resource: { 'service.name': 'mycel', 'service.version': init.version, 'service.instance.id': init.node, 'mycel.node': init.node, 'mycel.region': init.region },
      tunables: otlpTunables.defaults(init.profile),
      logger: init.logger.child({ component: 'trace' })
    })
    init.logger.info({ endpoint: init.otlpEndpoint }, 'exporting spans over OTLP/HTTP')
  }

  /** Flush the OTLP queue (bounded by the export timeout); the log lines need nothing. */
  async stop (): Promise<void> {
    await this.otlp?.shutdown()
  }
}
