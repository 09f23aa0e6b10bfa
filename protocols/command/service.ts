/**
 * Signed fan-out commands (docs/commands.md), Serf's query model on libp2p:
 * the originator publishes one signed request on a gossipsub topic, so the
 * network carries it (no connection per target from the caller); every node
 * checks it in the topic validator (signature, author, expiry, replay), so a
 * bad request is not forwarded; each node that is a target authorises and
 * runs it (the `execute` hook: enforcement is every node's own), and
 * answers, signed, straight back to the originator on a stream protocol.
 * The originator collects until every expected target answered or the
 * timeout, and names the ones that did not.
 */
import { randomBytes } from 'node:crypto'
import type { Connection } from '@libp2p/interface'
import { peerIdOf } from '../../wire/peer-ids.js'
import type { CommonComponents } from '../../lib/components.js'
import type { Startable } from '../../lib/lifecycle.js'
import { errText } from '../../lib/errors.js'
import { VerifiedTopic, type PubSubHost } from '../../wire/topic.js'
import { handleRequests, request, type RpcHost } from '../../wire/rpc.js'
import { MalformedMessageError } from '../../wire/errors.js'
import type { Tracer } from '../../wire/tracing.js'
import { COMMAND_RESULT_PROTOCOL, COMMAND_TOPIC, type CommandConfig } from './constants.js'
import { CommandRefusedError } from './errors.js'
import { decodeAnswer, decodeRequest, encodeAnswer, encodeRequest, type CommandAnswer, type CommandRequest, type Targets } from './messages.js'
import { ReplayGuard } from './replay.js'
import { commandMetrics, type CommandMetrics } from './metrics.js'

export type CommandComponents = Pick<CommonComponents, 'peerId' | 'privateKey' | 'logger' | 'registry'> & {
  pubsub: PubSubHost
  rpc: Pick<RpcHost, 'dialProtocol' | 'handle' | 'unhandle'>
}

/** What running a command here gave. */
export interface Execution { ok: boolean, exitCode: number | null, output: string, error?: string }

export interface CommandInit {
  config: CommandConfig
  tracer: Tracer
  /** Whether this node is one of `targets` (its region, its id, a role it holds now). */
  isTarget: (targets: Targets) => boolean
  /** The members the originator expects to answer `targets`, self included when it is one. */
  expected: (targets: Targets) => string[]
  /** Authorise and run; throw CommandRefusedError to refuse. Never sees an unverified, expired or replayed request. */
  execute: (req: CommandRequest, signal: AbortSignal) => Promise<Execution>
  /** Every completed fan-out this node originated (the audit record is written from it). */
  onOutcome?: (outcome: CommandOutcome) => void
  now?: () => number
}

export interface RunRequest { name: string, args: string[], targets: Targets, timeoutMs: number, tc?: string }

export interface CommandOutcome {
  request: CommandRequest
  /** Answers in arrival order. */
  answers: CommandAnswer[]
  /** Expected targets that did not answer before the timeout. */
  missing: string[]
  expected: string[]
  durationMs: number
}

interface Pending { expected: Set<string>, answers: Map<string, CommandAnswer>, done: () => void }

/** Refusals answered to the originator from the validator (the rest are counted and dropped silently: a replay's originator had its answer). */
const ANSWERED_IN_VALIDATOR = new Set(['expired', 'future', 'too_long', 'before_start', 'replay_set_full'])
/**
 * Refusals that come from this node's own state (what it remembers, when it
 * started), not from the message: ignored, not rejected, so the peer that
 * relayed a request other nodes accept is not penalised in its gossip score.
 */
const IGNORED_IN_VALIDATOR = new Set(['replayed', 'before_start', 'replay_set_full'])

export class CommandService implements Startable {
  readonly metrics: CommandMetrics
  private readonly replay: ReplayGuard
  private readonly pending = new Map<string, Pending>()
  private topic?: VerifiedTopic<CommandRequest>
  private running = 0
  private readonly waiting: Array<() => void> = []
  private shutdown = new AbortController()
  private readonly now: () => number

  constructor (private readonly init: CommandInit, private readonly c: CommandComponents) {
    this.now = init.now ?? Date.now
    this.metrics = commandMetrics(c.registry)
    this.replay = new ReplayGuard(init.config, this.now)
  }

  async start (): Promise<void> {
    if (this.topic !== undefined) return
    this.shutdown = new AbortController()
    const { config } = this.init
    await handleRequests(this.c.rpc, COMMAND_RESULT_PROTOCOL, async (frame, connection, reply) => {
      this.receiveAnswer(await this.decodeAnswerFrom(frame, connection))
      await reply(Uint8Array.of(1))
    }, {
      timeoutMs: config.answerTimeoutMs,
      maxBytes: config.maxMessageBytes,
      maxInboundStreams: 64,
      onError: (err, connection) => { this.c.logger.debug({ err: errText(err), peer: connection.remotePeer.toString() }, 'command answer dropped') }
    })
    this.topic = new VerifiedTopic<CommandRequest>({
      pubsub: this.c.pubsub,
      topic: COMMAND_TOPIC,
      metricTopic: 'command',
      registry: this.c.registry,
      logger: this.c.logger,
      decode: async (data, from) => await this.validate(data, from),
      onMessage: (req) => { this.onRequest(req) }
    })
    this.topic.start()
  }

  async stop (): Promise<void> {
    if (this.topic === undefined) return
    this.shutdown.abort()
    this.topic.stop()
    this.topic = undefined
    for (const p of this.pending.values()) p.done()
    await this.c.rpc.unhandle(COMMAND_RESULT_PROTOCOL).catch(() => {})
  }

  /** Originate a command: sign, fan out, collect. Resolves at the last expected answer or the timeout. */
  async run (r: RunRequest): Promise<CommandOutcome> {
    const { config, tracer } = this.init
    const span = tracer.start(`command ${r.name}`, 'sent', r.tc, { command: r.name })
    const issuedAt = this.now()
    const req: CommandRequest = {
      v: 1,
      id: randomBytes(16).toString('hex'),
      from: this.c.peerId,
      name: r.name,
      args: r.args,
      targets: r.targets,
      issuedAt,
      // Valid while the caller waits, plus room for a target's clock running behind.
      expires: issuedAt + Math.min(config.expiryWindowMs, r.timeoutMs + config.maxFutureSkewMs),
      tc: span.traceparent
    }
    const expected = new Set(this.init.expected(r.targets))
    const answers = new Map<string, CommandAnswer>()
    let done = (): void => {}
    const finished = new Promise<void>(resolve => { done = resolve })
    const timer = setTimeout(done, r.timeoutMs)
    this.pending.set(req.id, { expected, answers, done })
    if (expected.size === 0) done()
    const started = performance.now()
    try {
      const bytes = await encodeRequest(req, this.c.privateKey)
      this.metrics.sent.inc()
      // Gossipsub does not deliver our own message back: when this node is a target it runs the request here.
      if (this.init.isTarget(req.targets)) {
        try {
          this.replay.admit(req)
          void this.serve(req)
        } catch (err) {
          // The replay set is full here: this node refuses its own request like anyone else's.
          this.metrics.received.inc({ result: err instanceof CommandRefusedError ? err.reason : 'error' })
          this.receiveAnswer(refusal(this.c.peerId, req, err, 0))
        }
      }
      await this.topic?.publish(bytes).catch((err: unknown) => { this.c.logger.debug({ err: errText(err) }, 'command publish failed') })
      await finished
    } finally {
      clearTimeout(timer)
      this.pending.delete(req.id)
    }
    const durationMs = performance.now() - started
    this.metrics.fanout.observe(durationMs / 1000)
    const outcome: CommandOutcome = { request: req, answers: [...answers.values()], missing: [...expected].filter(n => !answers.has(n)).sort(), expected: [...expected].sort(), durationMs }
    span.end({ expected: expected.size, answered: answers.size })
    try { this.init.onOutcome?.(outcome) } catch (err) { this.c.logger.warn({ err }, 'command outcome hook failed') }
    return outcome
  }

  /** Topic validator: a request that fails here is rejected (not forwarded) or ignored (a replay). */
  private async validate (data: Uint8Array, from: string): Promise<CommandRequest | undefined> {
    const req = await decodeRequest(data, this.init.config.maxMessageBytes)
    if (req.from !== from) throw new MalformedMessageError(`command request of ${req.from} published by ${from}`)
    try {
      this.replay.admit(req)
      return req
    } catch (err) {
      if (!(err instanceof CommandRefusedError)) throw err
      this.metrics.received.inc({ result: err.reason })
      if (ANSWERED_IN_VALIDATOR.has(err.reason) && this.init.isTarget(req.targets)) void this.answer(req, refusal(this.c.peerId, req, err, 0))
      if (IGNORED_IN_VALIDATOR.has(err.reason)) return undefined
      throw new MalformedMessageError(err.message)
    }
  }

  private onRequest (req: CommandRequest): void {
    if (!this.init.isTarget(req.targets)) { this.metrics.received.inc({ result: 'not_target' }); return }
    void this.serve(req)
  }

  /** Run a verified, fresh request this node is a target of, and answer it. Never throws. */
  private async serve (req: CommandRequest): Promise<void> {
    const { tracer, config } = this.init
    const received = tracer.start(`command ${req.name}`, 'received', req.tc, { command: req.name, from: req.from })
    received.end()
    const started = performance.now()
    let ans: CommandAnswer
    if (this.waiting.length >= config.maxConcurrentRuns * 4) {
      ans = refusal(this.c.peerId, req, new CommandRefusedError('busy', `${this.running} commands running and ${this.waiting.length} waiting here`), 0)
    } else {
      await this.slot()
      const applied = tracer.start(`command ${req.name}`, 'applied', received.traceparent, { command: req.name })
      try {
        const x = await this.init.execute(req, this.shutdown.signal)
        ans = { v: 1, id: req.id, node: this.c.peerId, ok: x.ok, exitCode: x.exitCode, output: x.output, durationMs: Math.round(performance.now() - started), ...(x.error !== undefined ? { error: x.error.slice(0, 1024) } : {}) }
        applied.end({ ok: x.ok })
      } catch (err) {
        ans = refusal(this.c.peerId, req, err, Math.round(performance.now() - started))
        applied.end({}, err)
      } finally {
        this.release()
      }
    }
    this.metrics.received.inc({ result: ans.ok || ans.exitCode !== null ? 'ran' : reasonOf(ans) })
    const answered = tracer.start(`command ${req.name}`, 'answered', received.traceparent, { command: req.name, to: req.from })
    try {
      await this.answer(req, ans)
      answered.end({ ok: ans.ok })
    } catch (err) {
      answered.end({}, err)
    }
  }

  /** Deliver an answer to the originator (here when it is us). */
  private async answer (req: CommandRequest, ans: CommandAnswer): Promise<void> {
    if (req.from === this.c.peerId) { this.receiveAnswer(ans); return }
    try {
      const bytes = await encodeAnswer(ans, this.c.privateKey)
      await request(this.c.rpc, peerIdOf(req.from), COMMAND_RESULT_PROTOCOL, bytes, { timeoutMs: this.init.config.answerTimeoutMs, maxBytes: 16, signal: this.shutdown.signal })
    } catch (err) {
      this.metrics.undelivered.inc()
      this.c.logger.debug({ err: errText(err), id: req.id, to: req.from }, 'command answer not delivered')
      throw err
    }
  }

  private async decodeAnswerFrom (frame: Uint8Array, connection: Connection): Promise<CommandAnswer> {
    let ans: CommandAnswer
    try {
      ans = await decodeAnswer(frame, this.init.config.maxMessageBytes)
    } catch (err) {
      this.metrics.answers.inc({ result: 'invalid' })
      throw err
    }
    // Straight back: an answer comes from its signer, never relayed.
    if (connection.remotePeer.toString() !== ans.node) {
      this.metrics.answers.inc({ result: 'forged' })
      throw new MalformedMessageError(`answer of ${ans.node} sent by ${connection.remotePeer.toString()}`)
    }
    return ans
  }

  private receiveAnswer (ans: CommandAnswer): void {
    const p = this.pending.get(ans.id)
    if (p === undefined || !p.expected.has(ans.node)) { this.metrics.answers.inc({ result: 'unsolicited' }); return }
    if (p.answers.has(ans.node)) { this.metrics.answers.inc({ result: 'duplicate' }); return }
    this.metrics.answers.inc({ result: 'accepted' })
    p.answers.set(ans.node, ans)
    if (p.answers.size >= p.expected.size) p.done()
  }

  private async slot (): Promise<void> {
    if (this.running < this.init.config.maxConcurrentRuns) { this.running++; return }
    // release() hands its slot over: `running` already counts this run when it wakes.
    await new Promise<void>(resolve => { this.waiting.push(resolve) })
  }

  /** A finished run's slot goes straight to the oldest waiter, so no run started in between can take it too. */
  private release (): void {
    const next = this.waiting.shift()
    if (next !== undefined) next()
    else this.running--
  }
}

function reasonOf (ans: CommandAnswer): string {
  const m = /^([a-z_]+):/.exec(ans.error ?? '')
  return m?.[1] ?? 'failed'
}

/** The answer refusing (or failing) a request: `reason: message` when refused. */
export function refusal (node: string, req: CommandRequest, err: unknown, durationMs: number): CommandAnswer {
  const error = err instanceof CommandRefusedError ? `${err.reason}: ${err.message}` : `failed: ${errText(err)}`
  return { v: 1, id: req.id, node, ok: false, exitCode: null, output: '', durationMs, error: error.slice(0, 1024) }
}

export function commandService (init: CommandInit): (components: CommandComponents) => CommandService {
  return (components) => new CommandService(init, components)
}
