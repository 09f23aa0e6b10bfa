/**
 * What this node can say about each validator, for `critical status` and a
 * propose timeout: whether membership believes it alive, whether we hold a
 * connection to it, and when its last vote or proposal arrived. The first two
 * answer "could a quorum form now?"; the last says whether it did recently.
 * They are reported separately because they disagree: before the first
 * proposal nobody has voted yet although every validator is up, and a
 * validator membership marked dead may have voted a minute ago.
 */

/** Membership's word for a validator; `unknown` when membership has never heard of it. */
export type ValidatorMemberState = 'alive' | 'suspect' | 'dead' | 'left' | 'unknown'

export interface ValidatorRow {
  peerId: string
  /** This agent itself. */
  self: boolean
  member: ValidatorMemberState
  /** An open libp2p connection to it right now (always false for self). */
  connected: boolean
  /** Unix ms (this node's clock) of its last valid vote or proposal; null if none since this agent started. */
  lastMessageAt: number | null
}

export interface ValidatorView {
  rows: ValidatorRow[]
  /** Validators membership holds alive, self included. */
  alive: number
  /** Validators we are connected to, plus self. */
  connected: number
  n: number
  quorum: number
}

export interface ValidatorViewSources {
  ids: readonly string[]
  quorum: number
  self: string
  lastHeard: Record<string, number>
  memberState: (peerId: string) => ValidatorMemberState
  isConnected: (peerId: string) => boolean
}

export function validatorView (s: ValidatorViewSources): ValidatorView {
  const rows = s.ids.map((peerId): ValidatorRow => {
    const self = peerId === s.self
    return {
      peerId,
      self,
      member: self ? 'alive' : s.memberState(peerId),
      connected: !self && s.isConnected(peerId),
      lastMessageAt: s.lastHeard[peerId] ?? null
    }
  })
  return {
    rows,
    alive: rows.filter(r => r.member === 'alive').length,
    connected: rows.filter(r => r.self || r.connected).length,
    n: s.ids.length,
    quorum: s.quorum
  }
}

/** One line for errors and logs: "2 of 4 validators alive per membership (3 needed; dead: 12D3…, …), 2 connected". */
export function describeValidatorView (v: ValidatorView, now: number): string {
  const notAlive = v.rows.filter(r => r.member !== 'alive').map(r => `${r.member}: ${r.peerId}`)
  const last = v.rows.filter(r => !r.self).map(r => `${r.peerId} ${r.lastMessageAt === null ? 'never' : `${Math.round((now - r.lastMessageAt) / 1000)}s ago`}`)
  return `${v.alive} of ${v.n} validators alive per membership (${v.quorum} needed for a quorum${notAlive.length > 0 ? `; ${notAlive.join(', ')}` : ''}), ` +
    `${v.connected} connected (self included); last vote or proposal from ${last.length > 0 ? last.join(', ') : 'no other validator'}`
}
