/**
 * Admin API route of log aggregation (docs/logs.md):
 *
 *   GET /v1/logs?region=&node=&component=&since=&until=&level=&grep=&trace=&limit=&follow=
 *
 * Fans the query out to the target nodes over `/mycel/logs/1.0.0` (this node
 * in-process) and answers NDJSON: one JSON object per log line, merged by
 * time (the newest `limit` of the range, oldest first), then one control
 * record `{"end": {lines, more, until?, nodes, missing}}`; with `follow=1`
 * the response stays open and new lines follow, with `{"missing": {node,
 * error}}` when a node stops answering and `{"gap": {node, dropped}}` when
 * lines were lost to a slow reader. A control record is an object with that
 * one key; a log line always has `time`, `node`, `component`, `level`, `msg`.
 *
 * Targets: `node=PEER` (repeatable; a unique prefix of a member's id is
 * enough), else every alive or suspect member of `region` (default: this
 * node's), this node included.
 */
import type { ServerResponse } from 'node:http'
import { RequestError } from '../../../lib/errors.js'
import { parseOrRefuse } from '../../../lib/zod-issue.js'
import { MAX_PATTERN_CHARS } from '../../../protocols/logs/constants.js'
import type { Route } from '../router.js'
import type { Member } from '../../../protocols/membership/types.js'
import { compilePattern, fanout, LEVELS, logQuerySchema, parseTimeArg, TIME_ARG_HELP, type FanoutRecord, type LevelName, type LogQuery, type LogsService } from '../../../protocols/logs/index.js'

export interface LogsRouteInit {
  logs: Pick<LogsService, 'frames' | 'config'>
  self: string
  region: string
  members: () => Member[]
}

/** The query and the targets a request names, or RequestError 400 saying which parameter is wrong. */
export function logsRequest (query: URLSearchParams, init: LogsRouteInit, now: number): { q: LogQuery, nodes: string[] } {
  const { config } = init.logs
  const time = (name: string): number | undefined => {
    const v = query.get(name)
    if (v === null || v === '') return undefined
    const t = parseTimeArg(v, now)
    if (t === undefined) throw new RequestError(400, `${name} must be ${TIME_ARG_HELP}, not ${JSON.stringify(v)}`)
    return t
  }
  const since = time('since') ?? now - 3_600_000
  const until = time('until')
  if (until !== undefined && until <= since) throw new RequestError(400, 'until must be after since')
  const level = query.get('level') ?? undefined
  if (level !== undefined && !(LEVELS as readonly string[]).includes(level)) throw new RequestError(400, `level must be one of ${LEVELS.join(', ')}`)
  const limitText = query.get('limit')
  const limit = limitText === null ? config.defaultLimit : Number(limitText)
  if (!Number.isInteger(limit) || limit < 1 || limit > config.maxLimit) throw new RequestError(400, `limit must be an integer from 1 to ${config.maxLimit} (page with until for more)`)
  const grep = query.get('grep') ?? undefined
  if (grep !== undefined) {
    if (grep.length > MAX_PATTERN_CHARS) throw new RequestError(400, `grep pattern longer than ${MAX_PATTERN_CHARS} characters`)
    try { compilePattern(grep) } catch (err) { throw new RequestError(400, (err as Error).message) }
  }
  const text = (name: string, max: number): string | undefined => {
    const v = query.get(name) ?? undefined
    if (v !== undefined && (v.length === 0 || v.length > max)) throw new RequestError(400, `${name} must be 1 to ${max} characters`)
    return v
  }
  const component = text('component', 128)
  const trace = text('trace', 64)
  const follow = isTrue(query.get('follow'))
  const q: LogQuery = {
    since,
    ...(until !== undefined ? { until } : {}),
    ...(level !== undefined ? { level: level as LevelName } : {}),
    ...(component !== undefined ? { component } : {}),
    ...(grep !== undefined ? { grep } : {}),
    ...(trace !== undefined ? { trace } : {}),
    limit,
    ...(follow ? { follow } : {})
  }
  // The checks above give each parameter its own message; the query then passes the schema every node's server
  // runs on it (protocols/logs/messages.ts), so what this route accepts no node refuses.
  parseOrRefuse(logQuerySchema, q, 'log query', (m) => new RequestError(400, m))
  const nodes = targets(query, init)
  if (nodes.length === 0) throw new RequestError(404, `no live member in region ${query.get('region') ?? init.region}`)
  return { q, nodes }
}

function targets (query: URLSearchParams, init: LogsRouteInit): string[] {
  const members = init.members()
  const named = query.getAll('node').filter(n => n !== '')
  if (named.length > 0) {
    return [...new Set(named.map(n => {
      if (n === init.self || members.some(m => m.peerId === n)) return n
      const hits = members.filter(m => m.peerId.startsWith(n) || m.peerId.endsWith(n))
      if (hits.length === 1) return hits[0].peerId
      throw new RequestError(400, hits.length === 0 ? `no member ${n}` : `${n} names ${hits.length} members; give more of the id`)
    }))]
  }
  const region = query.get('region') ?? init.region
  const live = members.filter(m => m.region === region && m.peerId !== init.self && (m.state === 'alive' || m.state === 'suspect')).map(m => m.peerId)
  return region === init.region ? [init.self, ...live] : live
}

function isTrue (v: string | null): boolean { return v !== null && v !== '0' && v !== 'false' }

/** The NDJSON text of a fan-out record: a log line as the node served it, or a one-key control record. */
function ndjson (rec: FanoutRecord): string {
  switch (rec.kind) {
    case 'line': return rec.line
    case 'end': {
      const { kind: _k, oldest, ...rest } = rec
      // `until` is what the next (older) page passes: the time of the oldest line here.
      return JSON.stringify({ end: { ...rest, ...(rec.more && oldest !== undefined ? { until: new Date(oldest).toISOString() } : {}) } })
    }
    case 'missing': return JSON.stringify({ missing: { node: rec.node, error: rec.error } })
    case 'gap': return JSON.stringify({ gap: { node: rec.node, dropped: rec.dropped } })
  }
}

async function write (res: ServerResponse, text: string, signal: AbortSignal): Promise<void> {
  if (res.write(text + '\n')) return
  // Back-pressure: a slow HTTP reader slows the merge, and through it every node's stream.
  await new Promise<void>((resolve) => {
    const done = (): void => { res.off('drain', done); signal.removeEventListener('abort', done); resolve() }
    res.once('drain', done)
    signal.addEventListener('abort', done, { once: true })
  })
}

export function logsRoutes (init: LogsRouteInit): Route[] {
  return [{
    method: 'GET',
    path: '/v1/logs',
    handler: (req) => {
      const { q, nodes } = logsRequest(req.query, init, Date.now())
      return {
        stream: async (res, signal) => {
          res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' })
          res.flushHeaders()
          for await (const rec of fanout(nodes, q, (node, query, s) => init.logs.frames(node, query, s), { timeoutMs: init.logs.config.fanoutTimeoutMs, signal })) {
            if (signal.aborted) break
            await write(res, ndjson(rec), signal)
          }
          res.end()
        }
      }
    }
  }]
}
