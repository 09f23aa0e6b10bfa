/**
 * The logs part of a node: its store (the agent's own lines), the server
 * that answers members' queries over `/mycel/logs/1.0.0` from the store and
 * the other sources (the components' logs), and the requester used by the
 * admin API's fan-out (this node is queried in-process, the others over the
 * protocol).
 */
import { join } from 'node:path'
import { peerIdOf } from '../../wire/peer-ids.js'
import type { CommonComponents } from '../../lib/components.js'
import type { RpcHost } from '../../wire/rpc.js'
import { AGENT_COMPONENT, type LogsConfig } from './constants.js'
import { Channel } from './channel.js'
import { queryPeer } from './client.js'
import type { LogFrame, LogQuery } from './messages.js'
import { logsMetrics, type LogsMetrics } from './metrics.js'
import { runQuery } from './query.js'
import { LogServer, checkQuery } from './server.js'
import type { LogSource, LogSources } from './source.js'
import { LogStore } from './store.js'

/** Where the agent's logger writes its lines besides stderr (daemon/logger.ts): the store attaches while it runs. */
export interface LogTap {
  attach: (sink: { append: (raw: string) => void }) => void
  detach: (sink: { append: (raw: string) => void }) => void
}

export interface LogsComponents extends Pick<CommonComponents, 'peerId' | 'dataDir' | 'logger'>, Partial<Pick<CommonComponents, 'registry'>> {
  host: Pick<RpcHost, 'dialProtocol' | 'handle' | 'unhandle'>
  /** Members may query; anyone else is refused. */
  isMember: (peerId: string) => boolean
}

export interface LogsInit {
  config: LogsConfig
  /** The agent's logger output; absent (a logger made elsewhere, a test) the store holds nothing of the agent. */
  tap?: LogTap
  /** Other sources of this node, e.g. the components' logs (host/component-logs.ts). */
  sources?: LogSources
}

export class LogsService {
  readonly store: LogStore
  readonly metrics: LogsMetrics
  private readonly server: LogServer

  constructor (private readonly components: LogsComponents, readonly init: LogsInit) {
    this.metrics = logsMetrics(components.registry)
    this.store = new LogStore({ dir: join(components.dataDir, 'logs'), node: components.peerId, component: AGENT_COMPONENT, config: init.config, metrics: this.metrics })
    this.server = new LogServer({
      host: components.host,
      sources: () => this.sources(),
      config: init.config,
      metrics: this.metrics,
      isMember: components.isMember,
      logger: components.logger
    })
  }

  get config (): LogsConfig { return this.init.config }

  sources (): LogSource[] {
    return [this.store, ...(this.init.sources?.() ?? [])]
  }

  async start (): Promise<void> {
    await this.store.start()
    this.init.tap?.attach(this.store)
    await this.server.start()
  }

  async stop (): Promise<void> {
    await this.server.stop()
    this.init.tap?.detach(this.store)
    await this.store.stop()
  }

  /** A query's frames from `node`: this node in-process, any other over the protocol. */
  frames (node: string, q: LogQuery, signal: AbortSignal): AsyncIterable<LogFrame> {
    if (node !== this.components.peerId) return queryPeer(this.components.host, peerIdOf(node), q, signal)
    const ch = new Channel<LogFrame>()
    const query = checkQuery(q, this.init.config.maxLimit)
    void runQuery(query, this.sources(), async (f) => { await ch.send(f) }, {
      followQueueLines: this.init.config.followQueueLines,
      signal,
      onDropped: (n) => { this.metrics.dropped.inc({ reason: 'follower_slow' }, n) }
    }).then(({ lines }) => {
      this.metrics.queries.inc({ result: 'ok' })
      this.metrics.served.inc(lines)
      ch.end()
    }, (err) => { ch.end(err) })
    return ch
  }
}

/** The factory, as the agent builds components: `logs(init)(components)`. */
export function logs (init: LogsInit): (components: LogsComponents) => LogsService {
  return (components) => new LogsService(components, init)
}
