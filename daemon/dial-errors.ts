/**
 * Why a dial failed, in words an operator can act on. libp2p 3 wraps most
 * failures: the encryption step turns every error into an
 * EncryptionFailedError carrying only the message (a wrong /p2p/ peer id is
 * "Payload identity key X does not match expected remote identity key Y";
 * a network-key mismatch is a reset or garbage during the handshake), and
 * transports put the socket error (ECONNREFUSED, ...) in `code`, sometimes
 * inside an AggregateError of one error per address. Measured against
 * libp2p 3.3 / @libp2p/tcp 11 / @chainsafe/libp2p-noise 17 / @libp2p/pnet 3.
 */

/** Stable reason labels (metrics, logs, `mycel status`). */
export type DialFailureReason =
  /** TCP RST: nothing listens there. */
  | 'refused'
  /** No answer in time: host down, firewalled, wrong address. */
  | 'timeout'
  /** No route to the host or network. */
  | 'unreachable'
  /** Connected, but the encryption handshake failed: different network keys (PSK), or not a libp2p agent. */
  | 'handshake_failed'
  /** The agent at the address has another peer id than the address names. */
  | 'wrong_peer_id'
  /** Our own connection gater refused the peer (a test partition, say). */
  | 'denied'
  | 'error'

export const DIAL_FAILURE_REASONS: readonly DialFailureReason[] = ['refused', 'timeout', 'unreachable', 'handshake_failed', 'wrong_peer_id', 'denied', 'error']

export interface DialFailure {
  reason: DialFailureReason
  /** One sentence: what happened and what to check. */
  message: string
}

/** How far a dial got, from libp2p's progress events (`onProgress` of `node.dial`). */
export type DialStage = 'start' | 'encrypting' | 'multiplexing'

/** An onProgress handler for `node.dial` and the stage it reached. */
export function dialProgress (): { onProgress: (evt: { type: string }) => void, stage: () => DialStage } {
  let stage: DialStage = 'start'
  return {
    onProgress: (evt) => {
      if (evt.type === 'upgrader:encrypt-outbound-connection') stage = 'encrypting'
      else if (evt.type === 'upgrader:multiplex-outbound-connection') stage = 'multiplexing'
    },
    stage: () => stage
  }
}

/**
 * @param stage how far the dial got: a timeout after the TCP connection was
 * made is a stalled handshake (a network-key mismatch makes the other side
 * read garbage and wait), not an unreachable host.
 */
export function classifyDialError (err: unknown, stage: DialStage = 'start'): DialFailure {
  const leaves = flatten(err)
  const codes = leaves.map(e => (e as { code?: unknown })?.code).filter((c): c is string => typeof c === 'string')
  const names = leaves.map(e => (e as Error)?.name ?? '')
  const text = leaves.map(e => String((e as Error)?.message ?? e)).join('; ')
  const first = text.slice(0, 300)

  const wrongId = /identity key (\S+) does not match expected remote identity key (\S+)/.exec(text)
  if (wrongId !== null || names.includes('UnexpectedPeerError')) {
    const actual = wrongId?.[1] !== undefined ? `: it is ${wrongId[1]}` : ''
    return { reason: 'wrong_peer_id', message: `the agent at this address has another peer id than the address names${actual} (fix the /p2p/ part; \`mycel status\` on that host prints its id)` }
  }
  if (names.includes('DialDeniedError') || names.includes('ConnectionInterceptedError') || /blocked by gater/i.test(text)) {
    return { reason: 'denied', message: `this agent's connection gater refused the peer (${first})` }
  }
  if (codes.includes('ECONNREFUSED') || /ECONNREFUSED/.test(text)) {
    return { reason: 'refused', message: `connection refused: nothing listens there (is the agent running, is the port right?) (${first})` }
  }
  if (codes.some(c => c === 'EHOSTUNREACH' || c === 'ENETUNREACH' || c === 'EADDRNOTAVAIL') || /E(HOST|NET)UNREACH/.test(text)) {
    return { reason: 'unreachable', message: `no route to the host (${first})` }
  }
  // Before the handshake check: a handshake cut off by the deadline is wrapped as an encryption failure too.
  if (names.some(n => n === 'TimeoutError' || n === 'AbortError') || codes.includes('ETIMEDOUT') || /operation was aborted|timed out|timeout/i.test(text)) {
    if (stage !== 'start') {
      return { reason: 'handshake_failed', message: `connected, but the encryption handshake did not finish in time: the network keys differ (or only one side has one), or it is not a mycel agent (${first})` }
    }
    // Also what an agent with a network key sees from one without: the other
    // side waits for a protocol header inside our key exchange.
    return { reason: 'timeout', message: `no answer in time: host down, firewalled, a wrong address, or this agent has a network key and the peer none (${first})` }
  }
  if (names.includes('EncryptionFailedError') || names.includes('InvalidCryptoExchangeError') || codes.includes('ECONNRESET') || codes.includes('EPIPE') || /ECONNRESET|EPIPE/.test(text)) {
    return { reason: 'handshake_failed', message: `the connection was made but the encryption handshake failed: the network keys differ (or only one side has one), or it is not a mycel agent (${first})` }
  }
  return { reason: 'error', message: first.length > 0 ? first : 'dial failed' }
}

/** The errors at the bottom of AggregateErrors and `cause` chains (bounded depth). */
function flatten (err: unknown, depth = 0): unknown[] {
  if (err === null || typeof err !== 'object' || depth > 6) return [err]
  const inner = (err as { errors?: unknown[] }).errors
  const out: unknown[] = [err]
  if (Array.isArray(inner)) for (const e of inner) out.push(...flatten(e, depth + 1))
  const cause = (err as { cause?: unknown }).cause
  if (cause !== undefined) out.push(...flatten(cause, depth + 1))
  return out
}
