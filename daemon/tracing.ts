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
import { otlpExport, type OtlpExport } from './otlp-export.js'
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
  private readonly otlp: OtlpExport | undefined

  constructor (init: AgentTracingInit) {
    this.otlp = init.otlpEndpoint === undefined
      ? undefined
      : otlpExport({
        endpoint: init.otlpEndpoint,
        resource: { 'service.name': 'mycel', 'service.version': init.version, 'service.instance.id': init.node, 'mycel.node': init.node, 'mycel.region': init.region },
        tunables: otlpTunables.defaults(init.profile),
        logger: init.logger.child({ component: 'trace' })
      })
    const otlp = this.otlp
    // A log line needs no node or region: the log store stamps every line with its node.
    this.tracer = logTracer(init.logger, otlp === undefined ? [] : [(s) => { otlp.export(s) }])
    if (init.otlpEndpoint !== undefined) init.logger.info({ endpoint: init.otlpEndpoint }, 'exporting spans over OTLP/HTTP')
  }

  start (): void {}

  /** Flush the OTLP queue (bounded by the export timeout); the log lines need nothing. */
  async stop (): Promise<void> {
    await this.otlp?.shutdown()
  }
}
