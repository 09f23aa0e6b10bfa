/**
 * The agent's logs part (docs/logs.md): the node's log store fed by the
 * agent's logger (daemon/logger.ts tap), the components' logs read where the
 * component host writes them (host/component-logs.ts), the
 * `/mycel/logs/1.0.0` server, and the `GET /v1/logs` fan-out route. One
 * factory so the composition root adds it in one line.
 */
import { join } from 'node:path'
import type { Logger } from 'pino'
import type { ProfileName } from '../lib/tunables.js'
import { logs, logsTunables, type LogsComponents, type LogsService, type LogTap } from '../protocols/logs/index.js'
import type { MembershipView } from '../protocols/membership/types.js'
import { ComponentLogs } from '../host/component-logs.js'
import { logTap } from './logger.js'
import { logsRoutes } from './api/routes/logs.js'
import type { Route } from './api/router.js'

export interface AgentLogsInit {
  profile: ProfileName
  /** The agent's logger: its lines go to the store when it was made by createLogger. */
  logger: Logger
  host: LogsComponents['host']
  membership: Pick<MembershipView, 'get' | 'members'>
}

export class AgentLogs {
  readonly service: LogsService
  private readonly componentLogs: ComponentLogs

  constructor (private readonly components: Omit<LogsComponents, 'host' | 'isMember'>, private readonly init: AgentLogsInit) {
    const config = logsTunables.defaults(init.profile)
    this.componentLogs = new ComponentLogs({ dir: join(components.dataDir, 'host', 'logs'), node: components.peerId, pollMs: config.componentPollMs })
    const tap: LogTap | undefined = logTap(init.logger)
    this.service = logs({ config, ...(tap !== undefined ? { tap } : {}), sources: () => this.componentLogs.sources() })({
      ...components,
      host: init.host,
      isMember: (peer) => init.membership.get(peer) !== undefined
    })
  }

  async start (): Promise<void> {
    await this.service.start()
    await this.componentLogs.start()
  }

  async stop (): Promise<void> {
    this.componentLogs.stop()
    await this.service.stop()
  }

  routes (region: string): Route[] {
    return logsRoutes({ logs: this.service, self: this.components.peerId, region, members: () => this.init.membership.members() })
  }
}

/** The factory, as the agent builds components: `agentLogs(init)(components)`. */
export function agentLogs (init: AgentLogsInit): (components: Omit<LogsComponents, 'host' | 'isMember'>) => AgentLogs {
  return (components) => new AgentLogs(components, init)
}
