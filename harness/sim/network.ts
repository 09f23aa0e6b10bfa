/**
 * One seeded in-memory network for every simulator (crdt, membership,
 * election, BFT), after yjs's `TestConnector` (tests/testHelper.js): the test
 * owns the nodes' code, the network owns what happens between them.
 *
 * - deliver: a message sent on a link arrives after a latency drawn from the
 *   link's `[min, max]` range, as a timer on the shared `VirtualClock`; the
 *   spread of latencies reorders messages;
 * - drop / duplicate: per message, with the link's probabilities; per node,
 *   `dropIn` / `dropOut` (optionally only for messages `where` accepts);
 * - partition: groups of nodes; a link between groups carries nothing, and a
 *   message in flight when its link is cut is lost; `cut` severs one link;
 * - crash / restart: a crashed node sends nothing, what was in flight to it
 *   is lost (also across a restart), and its timers taken from `clockOf(id)`
 *   never fire; what it sent before crashing is still delivered.
 *
 * Every random choice comes from the one `rand` the simulator also uses, and
 * time moves only with the clock, so a seed replays exactly. The network keeps
 * a trace of its last events; `annotate(err)` adds it to a failing seed's
 * error. Generic over the message type `M`; `describe` names a message in the
 * trace.
 */
import { VirtualClock, type ClockScope } from './clock.js'
import { Trace, type TraceKind } from './trace.js'

export interface LinkFaults {
  /** Probability that a message is lost. */
  drop?: number
  /** Probability that a message arrives twice (each copy with its own latency). */
  duplicate?: number
  /** Delivery delay in virtual ms, uniform in [min, max]. */
  latencyMs?: readonly [number, number]
  /** The link carries nothing (a partition of one link). */
  cut?: boolean
}

export interface NodeFaults<M> {
  /** Probability that a message arriving at the node is lost (checked on arrival). */
  dropIn?: number
  /** Probability that a message the node sends is lost. */
  dropOut?: number
  /** Apply dropIn / dropOut only to messages this accepts (default: all). */
  where?: (msg: M) => boolean
}

export type Receive<M> = (from: string, msg: M) => unknown

export interface NetworkInit<M> {
  clock: VirtualClock
  /** The simulation's one seeded PRNG (harness/prng.ts). */
  rand: () => number
  /** Faults of every link without its own (default: lossless, 1 ms). */
  faults?: LinkFaults
  describe?: (msg: M) => string
  /** A node's name in the trace (default: its id). */
  label?: (id: string) => string
  /** Events the trace keeps (default 400; 0 turns tracing off). */
  traceLimit?: number
}

interface SimNode<M> {
  id: string
  receive: Receive<M>
  up: boolean
  /** Bumped by every crash: messages in flight to an older generation are lost. */
  gen: number
  group: number
  faults?: NodeFaults<M>
  scope: ClockScope
}

interface Packet<M> { from: string, to: string, msg: M, timer?: unknown }

const DEFAULT_FAULTS: LinkFaults & { latencyMs: readonly [number, number] } = { drop: 0, duplicate: 0, latencyMs: [1, 1] }

export class SimNetwork<M> {
  readonly clock: VirtualClock
  readonly rand: () => number
  readonly trace: Trace
  private readonly nodes = new Map<string, SimNode<M>>()
  private readonly links = new Map<string, LinkFaults>()
  private readonly inFlight = new Set<Packet<M>>()
  private faults: LinkFaults
  private partitionEpoch = 0
  private readonly describe: (msg: M) => string
  private readonly label: (id: string) => string

  constructor (init: NetworkInit<M>) {
    this.clock = init.clock
    this.rand = init.rand
    this.faults = { ...DEFAULT_FAULTS, ...init.faults }
    this.describe = init.describe ?? describeDefault
    this.label = init.label ?? (id => id)
    this.trace = new Trace(init.traceLimit ?? 400)
  }

  /** Add a node (up, in the common partition group) with the function that receives its messages. */
  add (id: string, receive: Receive<M>): void {
    if (this.nodes.has(id)) throw new Error(`node ${id} already exists`)
    this.nodes.set(id, { id, receive, up: true, gen: 0, group: 0, scope: this.clock.scope() })
  }

  ids (): string[] { return [...this.nodes.keys()] }
  isUp (id: string): boolean { return this.node(id).up }
  get inFlightCount (): number { return this.inFlight.size }

  /** The node's timers: they die with it when it crashes (a restart gets a fresh scope). */
  clockOf (id: string): ClockScope { return this.node(id).scope }

  /** Both up, in one partition group, and the link between them not cut. */
  reachable (a: string, b: string): boolean {
    const x = this.node(a)
    const y = this.node(b)
    return a !== b && x.up && y.up && this.linked(x, y)
  }

  /**
   * Put `msg` on the link from → to. False if the receiver is unreachable now
   * (the sender can tell: no connection); a random drop is silent (true).
   */
  send (from: string, to: string, msg: M): boolean {
    const a = this.node(from)
    const b = this.node(to)
    if (from === to || !a.up || !b.up || !this.linked(a, b)) {
      this.record('unreachable', from, to, msg)
      return false
    }
    // A link's own faults override the network's field by field.
    const link = this.links.size === 0 ? undefined : this.links.get(linkKey(from, to))
    if (this.chance(a.faults?.dropOut, a.faults, msg) || this.chance(link?.drop ?? this.faults.drop)) {
      this.record('drop', from, to, msg)
      return true
    }
    const copies = this.chance(link?.duplicate ?? this.faults.duplicate) ? 2 : 1
    const [min, max] = link?.latencyMs ?? this.faults.latencyMs ?? DEFAULT_FAULTS.latencyMs
    for (let c = 0; c < copies; c++) {
      const latency = max > min ? min + Math.floor(this.rand() * (max - min + 1)) : min
      const p: Packet<M> = { from, to, msg }
      const gen = b.gen
      p.timer = this.clock.setTimeout(() => this.arrive(p, b, gen), latency)
      this.inFlight.add(p)
      this.record(c === 0 ? 'send' : 'duplicate', from, to, msg)
    }
    return true
  }

  /** Send to every other node (or to `to`, in that order); returns how many were reachable. */
  broadcast (from: string, msg: M, to: Iterable<string> = this.nodes.keys()): number {
    let n = 0
    for (const id of to) if (id !== from && this.send(from, id, msg)) n++
    return n
  }

  /** Faults of every link, where the link has no value of its own (unset fields: lossless, 1 ms). */
  setFaults (faults: LinkFaults): void {
    this.faults = { ...DEFAULT_FAULTS, ...faults }
    this.note(`faults ${JSON.stringify(faults)}`, 'faults')
  }

  /** Faults of the link a → b (and b → a unless `oneWay`), overriding the network's field by field; undefined removes them. */
  setLink (a: string, b: string, faults: LinkFaults | undefined, oneWay = false): void {
    for (const [x, y] of oneWay ? [[a, b]] : [[a, b], [b, a]]) {
      if (faults === undefined) this.links.delete(linkKey(x, y))
      else this.links.set(linkKey(x, y), faults)
    }
    this.record('faults', a, b, undefined, faults === undefined ? 'reset' : JSON.stringify(faults))
  }

  setNodeFaults (id: string, faults: NodeFaults<M> | undefined): void {
    this.node(id).faults = faults
    this.record('faults', id, undefined, undefined, faults === undefined ? 'reset' : JSON.stringify({ ...faults, where: undefined }))
  }

  /**
   * Split the network: nodes in one group reach each other only; a node in no
   * group is alone. Heals by itself after `healAfterMs` unless partitioned
   * again or healed first.
   */
  partition (groups: Iterable<Iterable<string>>, healAfterMs?: number): void {
    let g = 0
    let alone = -1
    const seen = new Set<string>()
    for (const group of groups) {
      g++
      for (const id of group) { this.node(id).group = g; seen.add(id) }
    }
    for (const n of this.nodes.values()) if (!seen.has(n.id)) n.group = alone--
    this.partitioned(healAfterMs)
  }

  /** Each node to one of `parts` groups at random (a group may stay empty). */
  partitionRandomly (parts: number, healAfterMs?: number): void {
    for (const n of this.nodes.values()) n.group = Math.floor(this.rand() * parts)
    this.partitioned(healAfterMs)
  }

  heal (): void {
    this.partitionEpoch++
    for (const n of this.nodes.values()) n.group = 0
    this.record('heal')
  }

  /** Stop a node: it sends nothing, loses what was in flight to it, its timers die. */
  crash (id: string): void {
    const n = this.node(id)
    if (!n.up) return
    n.up = false
    n.gen++
    n.scope.cancelAll()
    this.record('crash', id)
  }

  restart (id: string): void {
    const n = this.node(id)
    if (n.up) return
    n.up = true
    n.scope = this.clock.scope()
    this.record('restart', id)
  }

  /** Lose each message in flight with probability `p` (1: all of them, no random draw). */
  dropInFlight (p = 1): number {
    let n = 0
    for (const pk of [...this.inFlight]) {
      if (p < 1 && this.rand() >= p) continue
      this.clock.clearTimeout(pk.timer)
      this.inFlight.delete(pk)
      this.record('cut', pk.from, pk.to, pk.msg)
      n++
    }
    return n
  }

  /** A line of the simulator's own in the trace (a client request, an invariant check). */
  note (text: string, kind: TraceKind = 'note'): void { this.trace.add(this.clock.now(), kind, undefined, undefined, undefined, text) }

  formatTrace (last = 40): string { return this.trace.format(m => this.describe(m as M), this.label, last) }

  /** Prefix `err`'s message with `header` (the seed and how to rerun it) and append the trace. */
  annotate (err: unknown, header: string, last = 40): unknown {
    if (!(err instanceof Error)) return err
    const original = err.message
    err.message = `${header}: ${original}\nlast network events:\n${this.formatTrace(last)}`
    // Reporters print the stack, which holds the message as it was when the error was made.
    if (err.stack !== undefined) err.stack = err.stack.replace(original, err.message)
    return err
  }

  private arrive (p: Packet<M>, to: SimNode<M>, gen: number): unknown {
    this.inFlight.delete(p)
    const from = this.nodes.get(p.from) as SimNode<M>
    if (!to.up || to.gen !== gen || !this.linked(from, to)) {
      this.record('lost', p.from, p.to, p.msg)
      return undefined
    }
    if (this.chance(to.faults?.dropIn, to.faults, p.msg)) {
      this.record('drop', p.from, p.to, p.msg)
      return undefined
    }
    this.record('deliver', p.from, p.to, p.msg)
    return to.receive(p.from, p.msg)
  }

  private partitioned (healAfterMs?: number): void {
    const epoch = ++this.partitionEpoch
    const groups = new Map<number, string[]>()
    for (const n of this.nodes.values()) groups.set(n.group, [...(groups.get(n.group) ?? []), n.id])
    this.record('partition', undefined, undefined, undefined, [...groups.values()].map(g => `[${g.join(' ')}]`).join(' '))
    if (healAfterMs !== undefined) this.clock.setTimeout(() => { if (epoch === this.partitionEpoch) this.heal() }, healAfterMs)
  }

  private linked (a: SimNode<M>, b: SimNode<M>): boolean {
    return a.group === b.group && (this.links.size === 0 || this.links.get(linkKey(a.id, b.id))?.cut !== true)
  }

  /** A random draw only when the probability is positive, so lossless runs consume no randomness. */
  private chance (p: number | undefined, scope?: NodeFaults<M>, msg?: M): boolean {
    if (p === undefined || p <= 0) return false
    if (scope?.where !== undefined && msg !== undefined && !scope.where(msg)) return false
    return p >= 1 || this.rand() < p
  }

  private record (kind: TraceKind, from?: string, to?: string, msg?: M, text?: string): void {
    this.trace.add(this.clock.now(), kind, from, to, msg, text)
  }

  private node (id: string): SimNode<M> {
    const n = this.nodes.get(id)
    if (n === undefined) throw new Error(`unknown node ${id}`)
    return n
  }
}

function linkKey (a: string, b: string): string { return `${a}\u0000${b}` }

function describeDefault (msg: unknown): string {
  if (typeof msg === 'object' && msg !== null && 'kind' in msg) return String((msg as { kind: unknown }).kind)
  if (msg instanceof Uint8Array) return `${msg.length} bytes`
  return typeof msg
}
