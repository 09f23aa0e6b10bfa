/**
 * A sync service speaking testground's websocket protocol (github.com/testground/sync-service), so the
 * unmodified @testground/sdk works against it.
 *
 * Wire format, one JSON object per text frame:
 *   request  {id, is_cancel?, publish?: {topic, payload}, subscribe?: {topic}, barrier?: {state, target},
 *             signal_entry?: {state}}
 *   response {id, error, publish: {seq}|null, subscribe: "<payload as JSON text>", signal_entry: {seq}|null}
 * Every response carries all five fields (the Go service serialises a struct; the sdk reads
 * `res.publish.seq` / `JSON.parse(res.subscribe)` without guards). A subscription gets one response per
 * message under the request's id, starting with every message published before it (replay). A barrier
 * answers once, when the state's counter reaches the target. Keys are opaque strings; the sdk scopes
 * them as `run:<run>:plan:<plan>:case:<case>:states:<s>` / `:topics:<t>` / `:run_events`.
 *
 * The runner itself uses the same store in-process (events, sidecar) through the methods below.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { WebSocketServer, type WebSocket } from 'ws'

/** Frames larger than this are refused: testground payloads are small JSON documents. */
const MAX_FRAME_BYTES = 4 * 1024 * 1024

interface Response {
  id: string
  error: string
  publish: { seq: number } | null
  subscribe: string
  signal_entry: { seq: number } | null
}

function response (id: string, fields: Partial<Omit<Response, 'id'>> = {}): Response {
  return { id, error: '', publish: null, subscribe: '', signal_entry: null, ...fields }
}

type Listener = (json: string) => void

interface Topic { msgs: string[], listeners: Set<Listener> }
interface Waiter { target: number, resolve: () => void }
interface State { count: number, waiters: Set<Waiter> }

export interface SyncServiceStats { connections: number, requests: number, malformed: number, topics: number, states: number }

export class SyncService {
  private readonly topics = new Map<string, Topic>()
  private readonly states = new Map<string, State>()
  private server?: Server
  private wss?: WebSocketServer
  private readonly stats: SyncServiceStats = { connections: 0, requests: 0, malformed: 0, topics: 0, states: 0 }

  /** Appends `payload` (any JSON value) to a topic; returns its 1-based sequence number. */
  publish (key: string, payload: unknown): number {
    const json = JSON.stringify(payload ?? null)
    const t = this.topic(key)
    t.msgs.push(json)
    for (const l of t.listeners) l(json)
    return t.msgs.length
  }

  /** Calls `fn` with every message of the topic, past ones first. Returns an unsubscribe function. */
  subscribe (key: string, fn: Listener): () => void {
    const t = this.topic(key)
    for (const m of t.msgs.slice()) fn(m)
    t.listeners.add(fn)
    return () => { t.listeners.delete(fn) }
  }

  /** Increments a state's counter; returns the new value (the caller's 1-based "seq"). */
  signalEntry (key: string): number {
    const s = this.state(key)
    s.count++
    for (const w of s.waiters) {
      if (s.count >= w.target) {
        s.waiters.delete(w)
        w.resolve()
      }
    }
    return s.count
  }

  /** Resolves once the state's counter reaches `target`; rejects if `signal` aborts first. */
  async barrier (key: string, target: number, signal?: AbortSignal): Promise<void> {
    const s = this.state(key)
    if (target <= s.count) return
    signal?.throwIfAborted()
    await new Promise<void>((resolve, reject) => {
      const w: Waiter = { target, resolve: () => { signal?.removeEventListener('abort', onAbort); resolve() } }
      const onAbort = (): void => { s.waiters.delete(w); reject(signal?.reason) }
      signal?.addEventListener('abort', onAbort, { once: true })
      s.waiters.add(w)
    })
  }

  count (key: string): number {
    return this.states.get(key)?.count ?? 0
  }

  getStats (): SyncServiceStats {
    return { ...this.stats, topics: this.topics.size, states: this.states.size }
  }

  /** Listens for websocket clients; returns the bound port. */
  async listen (host: string, port: number): Promise<number> {
    if (this.server !== undefined) return (this.server.address() as AddressInfo).port
    const server = createServer((_req, res) => { res.writeHead(426).end('websocket only\n') })
    const wss = new WebSocketServer({ server, maxPayload: MAX_FRAME_BYTES })
    wss.on('connection', ws => { this.serve(ws) })
    this.server = server
    this.wss = wss
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, host, () => { server.off('error', reject); resolve() })
    })
    return (server.address() as AddressInfo).port
  }

  async close (): Promise<void> {
    const { server, wss } = this
    this.server = undefined
    this.wss = undefined
    if (wss !== undefined) {
      for (const c of wss.clients) c.terminate()
      await new Promise<void>(resolve => { wss.close(() => { resolve() }) })
    }
    if (server !== undefined) await new Promise<void>(resolve => { server.close(() => { resolve() }) })
  }

  private topic (key: string): Topic {
    let t = this.topics.get(key)
    if (t === undefined) {
      t = { msgs: [], listeners: new Set() }
      this.topics.set(key, t)
    }
    return t
  }

  private state (key: string): State {
    let s = this.states.get(key)
    if (s === undefined) {
      s = { count: 0, waiters: new Set() }
      this.states.set(key, s)
    }
    return s
  }

  /** One client connection: requests are handled concurrently, responses share the socket. */
  private serve (ws: WebSocket): void {
    this.stats.connections++
    const closed = new AbortController()
    const cancels = new Map<string, () => void>()
    const send = (r: Response): void => {
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(r))
    }
    ws.on('close', () => {
      closed.abort(new Error('connection closed'))
      for (const c of cancels.values()) c()
      cancels.clear()
    })
    ws.on('error', () => { /* 'close' follows; nothing to add */ })
    ws.on('message', (data, isBinary) => {
      this.stats.requests++
      let req: Record<string, unknown>
      try {
        if (isBinary) throw new Error('binary frame')
        const parsed: unknown = JSON.parse(data.toString())
        if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object')
        req = parsed as Record<string, unknown>
      } catch {
        // Malformed input is counted and dropped: without an id there is no one to answer.
        this.stats.malformed++
        return
      }
      const id = typeof req.id === 'string' ? req.id : String(req.id ?? '')
      this.handle(id, req, send, cancels, closed.signal)
    })
  }

  private handle (id: string, req: Record<string, unknown>, send: (r: Response) => void,
    cancels: Map<string, () => void>, closed: AbortSignal): void {
    const fail = (msg: string): void => { this.stats.malformed++; send(response(id, { error: msg })) }
    const obj = (v: unknown): Record<string, unknown> | undefined =>
      typeof v === 'object' && v !== null && !Array.isArray(v) ? v as Record<string, unknown> : undefined

    if (req.is_cancel === true) {
      const cancel = cancels.get(id)
      cancels.delete(id)
      cancel?.()
      return
    }
    const pub = obj(req.publish)
    const sub = obj(req.subscribe)
    const bar = obj(req.barrier)
    const sig = obj(req.signal_entry)
    if (pub !== undefined) {
      if (typeof pub.topic !== 'string' || pub.topic === '') { fail('publish: topic must be a non-empty string'); return }
      const seq = this.publish(pub.topic, pub.payload)
      send(response(id, { publish: { seq } }))
    } else if (sub !== undefined) {
      if (typeof sub.topic !== 'string' || sub.topic === '') { fail('subscribe: topic must be a non-empty string'); return }
      const unsubscribe = this.subscribe(sub.topic, json => { send(response(id, { subscribe: json })) })
      cancels.get(id)?.()
      cancels.set(id, unsubscribe)
    } else if (bar !== undefined) {
      const target = bar.target
      if (typeof bar.state !== 'string' || bar.state === '') { fail('barrier: state must be a non-empty string'); return }
      if (typeof target !== 'number' || !Number.isInteger(target) || target < 0) { fail('barrier: target must be a non-negative integer'); return }
      this.barrier(bar.state, target, closed).then(
        () => { send(response(id)) },
        () => { /* the connection closed; nobody to answer */ }
      )
    } else if (sig !== undefined) {
      if (typeof sig.state !== 'string' || sig.state === '') { fail('signal_entry: state must be a non-empty string'); return }
      send(response(id, { signal_entry: { seq: this.signalEntry(sig.state) } }))
    } else {
      fail('request has none of publish, subscribe, barrier, signal_entry')
    }
  }
}

/** Key helpers matching the sdk's scoping. */
export function runPrefix (run: string, plan: string, testCase: string): string {
  return `run:${run}:plan:${plan}:case:${testCase}`
}
export const stateKey = (prefix: string, state: string): string => `${prefix}:states:${state}`
export const topicKey = (prefix: string, topic: string): string => `${prefix}:topics:${topic}`
export const eventsKey = (prefix: string): string => `${prefix}:run_events`
