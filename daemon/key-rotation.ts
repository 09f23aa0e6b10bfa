/**
 * Node key rotation (`mycel identity rotate`, docs/security.md "Rotate a
 * node key"): the files and the decisions; the admin route
 * (api/routes/identity.ts) and the start-up check (rotationRecovery) use them.
 *
 *   identity.next.key   the new key, written (0600, durably) before the old
 *                       key signs the hand-over `admission/allow/<new>`
 *   identity.old.key    the old key, kept for the record once the swap is done
 *
 * The swap copies identity.key to identity.old.key, then renames
 * identity.next.key over identity.key: at no moment is there no
 * identity.key (a missing one would make the agent create an unrelated
 * identity), and a crash between the two steps leaves the next key in
 * place for the start-up check to finish.
 *
 * A next key left at start (a crash or stop mid-rotation) is decided from
 * local committed critical config: the hand-over to it committed → finish
 * the swap and restart under it; not committed → the entry may still commit
 * until its expiry, so wait until it certainly cannot (the key file's time +
 * MAX_ENTRY_TTL_MS + slack), look once more, then move the key aside.
 * Deciding earlier could throw away a key the network already admitted in
 * place of ours (and the old id is revoked when the grace ends).
 */
import { rename, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import type { Logger } from 'pino'
import { readKeyFile, writeKeyFile } from '../lib/key-file.js'
import { syncDir } from '../lib/durable-file.js'
import type { Startable } from '../lib/lifecycle.js'
import { MAX_ENTRY_TTL_MS } from '../protocols/bft/constants.js'
import type { VersionVector } from '../crdt/version-vector.js'
import { ALLOW_PREFIX, MAX_CUTOFF_NAMESPACES, MAX_GRACE_MS, allowEntryJson, parseAllowEntry } from '../policy/admission-values.js'
import { IDENTITY_FILE } from './identity.js'
import { cutoffOf } from '../policy/revocation-cutoff.js'

export const NEXT_IDENTITY_FILE = 'identity.next.key'
export const OLD_IDENTITY_FILE = 'identity.old.key'
/** Where a next key whose hand-over never committed is moved (kept, not deleted: it never signed anything the network took). */
export const ABANDONED_IDENTITY_FILE = 'identity.abandoned.key'

/** Default grace of `mycel identity rotate`, ms: both ids admitted meanwhile; long enough for every node to learn the new id. */
export const DEFAULT_ROTATE_GRACE_MS = 10 * 60_000
/**
 * Slack after a leftover next key's latest possible entry expiry, ms: covers
 * the moments between writing the key and signing the entry, and validator
 * clocks ahead of ours (well above any profile's clockSkewMs, 5 s at most).
 */
export const LEFTOVER_SLACK_MS = 60_000

export class RotationError extends Error {
  static name = 'RotationError'
  override name = 'RotationError'
}

const NEXT_KEY_RECOVERY = 'move identity.next.key aside: the rotation it belonged to is abandoned (run mycel identity rotate again)'

/**
 * The hand-over value the old key signs: the new id replaces `old` until
 * `now + graceMs`; the old id's config writes up to its current own
 * sequence numbers stay valid; the old id's regions are kept.
 */
export function handOverValue (init: { old: string, now: number, graceMs: number, versionVector: VersionVector, oldAllow?: string }): string {
  if (!Number.isSafeInteger(init.graceMs) || init.graceMs < 0 || init.graceMs > MAX_GRACE_MS) throw new RotationError(`grace must be 0..${MAX_GRACE_MS} ms`)
  const cutoff = cutoffOf(init.versionVector, init.old)
  if (Object.keys(cutoff).length > MAX_CUTOFF_NAMESPACES) throw new RotationError(`this node wrote to ${Object.keys(cutoff).length} namespaces; a hand-over cut-off names at most ${MAX_CUTOFF_NAMESPACES}`)
  const regions = init.oldAllow !== undefined ? parseAllowEntry(init.oldAllow).regions : undefined
  return allowEntryJson({ ...(regions !== undefined ? { regions } : {}), replaces: init.old, graceUntil: init.now + init.graceMs, cutoff })
}

export type LeftoverDecision =
  | { action: 'finish' }
  | { action: 'discard' }
  | { action: 'wait', untilMs: number }

/**
 * What to do with a next key left at start. `committed` is the committed
 * value of `admission/allow/<next>` (undefined: none); `writtenAt` the next
 * key file's modification time.
 */
export function leftoverDecision (init: { old: string, committed?: string, writtenAt: number, now: number }): LeftoverDecision {
  if (init.committed !== undefined) {
    let replaces: string | undefined
    try { replaces = parseAllowEntry(init.committed).replaces } catch { replaces = undefined }
    if (replaces === init.old) return { action: 'finish' }
  }
  // The entry was signed just after the key was written, with an expiry of at most MAX_ENTRY_TTL_MS.
  const untilMs = init.writtenAt + MAX_ENTRY_TTL_MS + LEFTOVER_SLACK_MS
  return init.now < untilMs ? { action: 'wait', untilMs } : { action: 'discard' }
}

/** The next key of `dataDir` and when it was written, or undefined. */
export async function loadNextKey (dataDir: string): Promise<{ key: PrivateKey, peerId: string, writtenAt: number } | undefined> {
  const path = join(dataDir, NEXT_IDENTITY_FILE)
  const key = await readKeyFile(path, 'next identity key', NEXT_KEY_RECOVERY)
  if (key === undefined) return undefined
  return { key, peerId: peerIdFromPrivateKey(key).toString(), writtenAt: (await stat(path)).mtimeMs }
}

/** Make the new key and store it durably as identity.next.key (0600). */
export async function createNextKey (dataDir: string): Promise<{ key: PrivateKey, peerId: string }> {
  const key = await generateKeyPair('Ed25519')
  await writeKeyFile(join(dataDir, NEXT_IDENTITY_FILE), key)
  return { key, peerId: peerIdFromPrivateKey(key).toString() }
}

/** The swap (see the file comment): identity.key → identity.old.key (a copy), identity.next.key → identity.key. */
export async function finishSwap (dataDir: string, current: PrivateKey): Promise<void> {
  await writeKeyFile(join(dataDir, OLD_IDENTITY_FILE), current)
  await rename(join(dataDir, NEXT_IDENTITY_FILE), join(dataDir, IDENTITY_FILE))
  await syncDir(dataDir)
}

/** A next key whose hand-over never committed: moved aside, so no later start takes it for a rotation in progress. */
export async function abandonNextKey (dataDir: string): Promise<void> {
  await rename(join(dataDir, NEXT_IDENTITY_FILE), join(dataDir, ABANDONED_IDENTITY_FILE))
  await syncDir(dataDir)
}

/** Remove a next key that never signed into anything (the rotation failed before its entry was submitted). */
export async function removeNextKey (dataDir: string): Promise<void> {
  await rm(join(dataDir, NEXT_IDENTITY_FILE), { force: true })
  await syncDir(dataDir)
}

export interface RecoveryInit {
  dataDir: string
  /** This node's (old) key and id, as the agent runs now. */
  identity: { privateKey: PrivateKey, peerId: string }
  /** The committed value of a critical key, from local state. */
  committed: (key: string) => string | undefined
  /** Subscribe to commits (critical state 'commit'); returns the unsubscribe. */
  onCommit: (fn: () => void) => () => void
  /** Restart the agent under the swapped key (AgentOptions.restart); absent: the next start uses it. */
  restart?: () => void
  logger: Logger
  now?: () => number
}

/**
 * The start-up check for a leftover next key (a part after critical config):
 * decides at start, on each commit while waiting, and at the deadline.
 */
export function rotationRecovery (init: RecoveryInit): Startable {
  const now = init.now ?? Date.now
  let timer: NodeJS.Timeout | undefined
  let off = (): void => {}
  let done = false
  let pending: { peerId: string, writtenAt: number } | undefined
  const stopWatching = (): void => { off(); off = () => {}; if (timer !== undefined) clearTimeout(timer); timer = undefined }

  const decide = async (): Promise<void> => {
    if (done || pending === undefined) return
    const d = leftoverDecision({ old: init.identity.peerId, committed: init.committed(ALLOW_PREFIX + pending.peerId), writtenAt: pending.writtenAt, now: now() })
    if (d.action === 'wait') {
      if (timer === undefined) timer = setTimeout(() => { timer = undefined; void decide().catch(failed) }, Math.max(0, d.untilMs - now()))
      return
    }
    done = true
    stopWatching()
    if (d.action === 'finish') {
      await finishSwap(init.dataDir, init.identity.privateKey)
      init.logger.info({ old: init.identity.peerId, new: pending.peerId }, 'key rotation: the hand-over is committed; swapped to the new key')
      if (init.restart !== undefined) setImmediate(init.restart)
      else init.logger.warn('key rotation: restart the agent to run under the new key')
      return
    }
    await abandonNextKey(init.dataDir)
    init.logger.warn({ old: init.identity.peerId, abandoned: pending.peerId, file: ABANDONED_IDENTITY_FILE },
      'key rotation did not complete: its hand-over was never committed and has expired; the node keeps its key (run mycel identity rotate again)')
  }
  const failed = (err: unknown): void => { init.logger.error({ err }, 'key rotation: cannot finish the leftover rotation') }

  return {
    start: async () => {
      const next = await loadNextKey(init.dataDir)
      if (next === undefined) return
      pending = next
      init.logger.info({ old: init.identity.peerId, next: next.peerId }, 'key rotation: a next key is left from an interrupted rotation; deciding from committed critical config')
      off = init.onCommit(() => { void decide().catch(failed) })
      await decide()
    },
    stop: () => { done = true; stopWatching() }
  }
}
