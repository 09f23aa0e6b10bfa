/**
 * One query to many nodes, answered as one stream: the nodes' histories
 * merged by time (each node sends its own sorted; merge.ts), the newest
 * `limit` of them overall, then an `end` record saying which nodes answered
 * and which did not (and why), then with follow the nodes' new lines as they
 * arrive. A node that fails, or does not finish its history within the
 * per-node deadline, is reported and left out; the others still answer.
 */
import { lastN, mergeByTime } from './merge.js'
import type { LogFrame, LogQuery } from './messages.js'

export interface Missing { node: string, error: string }

export type FanoutRecord =
  | { kind: 'line', t: number, line: string }
  | { kind: 'end', lines: number, more: boolean, oldest?: number, nodes: string[], missing: Missing[] }
  | { kind: 'missing', node: string, error: string }
  | { kind: 'gap', node: string, dropped: number }

export type FrameSource = (node: string, q: LogQuery, signal: AbortSignal) => AsyncIterable<LogFrame>

interface NodeRun {
  node: string
  it: AsyncIterator<LogFrame>
  /** Aborts this node's query (deadline, or the whole query ends). */
  ctl: AbortController
  more: boolean
  ended: boolean
}

function reason (err: unknown): string {
  const e = err as Error
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return 'no answer in time'
  return e?.message ?? String(err)
}

export async function * fanout (nodes: string[], q: LogQuery, frames: FrameSource, opts: { timeoutMs: number, signal: AbortSignal }): AsyncGenerator<FanoutRecord> {
  const missing: Missing[] = []
  const runs: NodeRun[] = nodes.map(node => {
    const ctl = new AbortController()
    const signal = AbortSignal.any([ctl.signal, opts.signal])
    return { node, it: frames(node, q, signal)[Symbol.asyncIterator](), ctl, more: false, ended: false }
  })
  const fail = (r: NodeRun, err: unknown): void => {
    if (r.ended) return
    r.ended = true
    r.ctl.abort()
    missing.push({ node: r.node, error: reason(err) })
  }
  // Each node's history as a sorted stream of lines; its deadline ends at its `end` frame.
  async function * history (r: NodeRun): AsyncGenerator<{ t: number, line: string }> {
    const timer = setTimeout(() => { fail(r, new Error(`no complete answer within ${opts.timeoutMs} ms`)) }, opts.timeoutMs)
    try {
      while (!r.ended) {
        const n = await r.it.next()
        if (n.done === true) { r.ended = true; return }
        const f = n.value
        if (f.op === 'end') { r.more = f.more; return }
        if (f.op === 'line') yield { t: f.t, line: f.line }
      }
    } catch (err) {
      fail(r, err)
    } finally {
      clearTimeout(timer)
    }
  }
  try {
    const { items, more } = await lastN(mergeByTime(runs.map(history), l => l.t), q.limit)
    for (const l of items) yield { kind: 'line', t: l.t, line: l.line }
    const answered = runs.filter(r => !missing.some(m => m.node === r.node)).map(r => r.node)
    yield {
      kind: 'end',
      lines: items.length,
      more: more || runs.some(r => r.more),
      ...(items.length > 0 ? { oldest: items[0].t } : {}),
      nodes: answered,
      missing: [...missing]
    }
    if (q.follow !== true) return
    yield * follow(runs.filter(r => !r.ended), opts.signal)
  } finally {
    for (const r of runs) { r.ctl.abort(); void r.it.return?.().catch(() => {}) }
  }
}

/** Followed records waiting for the consumer beyond which each node's reader pauses (back-pressure to its sender). */
const FOLLOW_READY_MAX = 64

/** The nodes' followed frames as they arrive, whichever node sends first. */
async function * follow (runs: NodeRun[], signal: AbortSignal): AsyncGenerator<FanoutRecord> {
  const ready: FanoutRecord[] = []
  let wake: (() => void) | undefined
  let open = runs.length
  const push = (rec: FanoutRecord): void => { ready.push(rec); wake?.() }
  // Nodes waiting for room in `ready`: woken when the consumer takes it below the bound, or on abort.
  let roomWaiters: Array<() => void> = []
  const wakeRoom = (): void => { const w = roomWaiters; roomWaiters = []; for (const f of w) f() }
  for (const r of runs) {
    void (async () => {
      try {
        while (true) {
          // One frame at a time per node: a slow reader here slows each node's sender.
          while (ready.length > FOLLOW_READY_MAX && !signal.aborted) await new Promise<void>(resolve => { roomWaiters.push(resolve) })
          const n = await r.it.next()
          if (n.done === true) { push({ kind: 'missing', node: r.node, error: 'the node ended the follow (it stopped or restarted)' }); break }
          const f = n.value
          if (f.op === 'line') push({ kind: 'line', t: f.t, line: f.line })
          else if (f.op === 'gap') push({ kind: 'gap', node: r.node, dropped: f.dropped })
        }
      } catch (err) {
        if (!signal.aborted) push({ kind: 'missing', node: r.node, error: reason(err) })
      } finally {
        open--
        wake?.()
      }
    })()
  }
  const stop = (): void => { wake?.(); wakeRoom() }
  signal.addEventListener('abort', stop, { once: true })
  try {
    while (!signal.aborted) {
      const rec = ready.shift()
      if (ready.length <= FOLLOW_READY_MAX) wakeRoom()
      if (rec !== undefined) { yield rec; continue }
      if (open === 0) return
      await new Promise<void>(resolve => { wake = resolve })
      wake = undefined
    }
  } finally {
    signal.removeEventListener('abort', stop)
  }
}
