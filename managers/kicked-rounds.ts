/**
 * The loop a term-fenced duty runs while its node holds a role (the network
 * manager's placement, the update manager's rollouts): before its first
 * round the new holder pulls replicated config from a few live members, so
 * a holder that has just joined continues from the records in force instead
 * of deciding from nothing; then rounds run one at a time, every period, and
 * soon after a kick (a change the duty watches).
 */
import type { Logger } from 'pino'
import type { MembershipView } from '../protocols/membership/types.js'

/**
 * Shortest bound of a new holder's config pull, ms: the test profile's 1 s
 * round interval is too short for an anti-entropy round on a loaded host.
 */
export const PULL_MIN_MS = 5_000

/** Live members a new holder pulls replicated config from before its first round: two, so one that is behind does not decide. */
export const SYNC_PEERS = 2

/**
 * Delay from a kick to the round it triggers, ms: long enough that a burst
 * (anti-entropy applies many keys at once; SWIM declares several members
 * dead together) is one round, short against what the operator waits for.
 */
export const KICK_DELAY_MS = 200

export interface PullableConfig {
  /** One anti-entropy round with `peer`. */
  syncWith?: (peer: string) => Promise<void>
}

/**
 * Pull replicated config from up to SYNC_PEERS live members, for at most
 * `timeoutMs`. True once one of them answered (or there is none to ask).
 */
export async function pullConfig (config: PullableConfig | undefined, membership: Pick<MembershipView, 'self' | 'members'>, signal: AbortSignal, timeoutMs: number, log: Logger): Promise<boolean> {
  if (config?.syncWith === undefined) return true
  const self = membership.self().peerId
  const peers = membership.members().filter(m => m.state === 'alive' && m.peerId !== self)
    .map(m => ({ id: m.peerId, r: Math.random() })).sort((a, b) => a.r - b.r).slice(0, SYNC_PEERS)
  if (peers.length === 0 || signal.aborted) return true
  let timer: ReturnType<typeof setTimeout> | undefined
  const synced = await Promise.race([
    Promise.any(peers.map(async p => { await config.syncWith?.(p.id) })).then(() => true, () => false),
    new Promise<boolean>(resolve => { timer = setTimeout(() => { resolve(false) }, timeoutMs) })
  ])
  clearTimeout(timer)
  if (!synced) log.info({ peers: peers.length }, 'no member answered the config pull yet; not deciding until one does')
  return synced
}

export interface KickedRoundsInit {
  signal: AbortSignal
  /** Period between rounds, ms, unless a round asks for an earlier one. */
  intervalMs: number
  /** One round; may return the delay (ms) to the next one when it should come sooner than the period. */
  round: () => Promise<number | undefined>
  onError: (err: unknown) => void
  /** Runs before the first round until it returns true (a config pull). */
  before?: () => Promise<boolean>
  /** Pause between failed `before` attempts, ms. */
  beforeRetryMs?: number
}

/** Start the loop; returns `kick`, which makes a round come within KICK_DELAY_MS. Stops when `signal` aborts. */
export function kickedRounds (init: KickedRoundsInit): () => void {
  const { signal } = init
  let timer: ReturnType<typeof setTimeout> | undefined
  let running = false
  let again = false
  let ready = false
  const schedule = (ms: number): void => { clearTimeout(timer); timer = setTimeout(() => { void tick() }, ms) }
  const tick = async (): Promise<void> => {
    if (signal.aborted) return
    if (running) { again = true; return }
    running = true
    let next: number | undefined
    try {
      next = await init.round()
    } catch (err) {
      if (!signal.aborted) init.onError(err)
    }
    running = false
    if (signal.aborted) return
    schedule(again ? KICK_DELAY_MS : Math.max(0, Math.min(init.intervalMs, next ?? init.intervalMs)))
    again = false
  }
  const kick = (): void => {
    if (!ready || signal.aborted) return
    if (running) again = true
    else schedule(KICK_DELAY_MS)
  }
  signal.addEventListener('abort', () => { clearTimeout(timer) }, { once: true })
  void (async () => {
    if (init.before !== undefined) {
      while (!signal.aborted && !(await init.before())) {
        await new Promise(resolve => setTimeout(resolve, init.beforeRetryMs ?? 1_000))
      }
    }
  })().finally(() => { ready = true; void tick() })
  return kick
}
