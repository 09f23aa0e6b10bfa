/**
 * The committed critical configuration: the chain of certified blocks from
 * genesis and the key/value state they produce. Every node keeps one
 * (validators and non-validators alike); it accepts a certificate only for
 * the next height, only if it verifies against the validator set in force at
 * that height, and persists it (fsync) before applying it.
 *
 * Validator-set rule: an entry for `bft/validators` committed at height h
 * governs heights ≥ h + VALIDATOR_CHANGE_DELAY (2); `bft/admins` governs
 * entries from h + 1. Both are ordinary critical entries, so changing them
 * needs the same quorum as any other change.
 */
import { isFailStop, type FailStopError } from '../../lib/errors.js'
import { ADMINS_KEY, ADMIN_CHANGE_DELAY, MAX_KEY_BYTES, MAX_VALIDATORS, VALIDATORS_KEY, VALIDATOR_CHANGE_DELAY } from './constants.js'
import { verifyCertificate } from './certificate.js'
import { blockHash, bytesEqual, ENTRY_DOMAIN, entryId, entrySignBytes, hex, sha256, type Verifier } from './crypto.js'
import { InvalidCertificateError, InvalidEntryError, InvalidGenesisError, NotAdminError } from './errors.js'
import { genesisHash, isEd25519PeerId, type Genesis } from './genesis.js'
import { ValidatorSet } from './validator-set.js'
import type { BlockStore } from './block-store.js'
import type { Certificate, Entry } from './types.js'

export interface CriticalValue {
  key: string
  value: string
  /** Height of the block that set it; 0 for genesis values. */
  height: number
  /** null for genesis values. */
  certificate: Certificate | null
}

export interface CriticalChange {
  key: string
  /** null: the key was deleted. */
  value: string | null
  height: number
  certificate: Certificate
}

/**
 * Read-only view of committed critical config, for other modules (e.g. the
 * config store's AccessPolicy reads `acl/<namespace>`). `onChange` is the
 * typed `change` event: CriticalState also dispatches it as a DOM
 * CustomEvent<CriticalChange> named 'change' (and 'commit' per block).
 */
export interface CriticalConfig {
  get: (key: string) => CriticalValue | undefined
  entries: () => CriticalValue[]
  /** Height of the last committed block (0: genesis only). */
  height: () => number
  onChange: (listener: (change: CriticalChange) => void) => () => void
}

export interface CriticalStateInit {
  genesis: Genesis
  verify: Verifier
  store: BlockStore
  /** Writing or syncing the block store failed: the owner stops the component (fail-stop). */
  onStoreFailure?: (err: FailStopError) => void
  /**
   * Format rules of keys that layers above own (e.g. policy/publisher-trust.ts
   * for `publishers`): run on every entry for that key, like the reserved keys'
   * own rules, and on the genesis values, so a value no node could read is
   * never committed. A rule throws to refuse.
   */
  keyRules?: ReadonlyArray<readonly [string, KeyRule]>
  /**
   * Authorities besides the admin set (policy/admission-authority.ts: join
   * tokens, a node's own key hand-over and self-revocation). Tried in order
   * for every entry not signed by an admin, and for every entry with a grant.
   */
  authorities?: readonly EntryAuthority[]
}

/** Refuses a value for one key by throwing; `null` is a deletion. A rule registered for a prefix (ending in '/') gets the full key. */
export type KeyRule = (value: string | null, key: string) => void

/** What an entry authority may read: the chain as it stands before the entry's block. */
export interface AuthorityContext {
  chain: Uint8Array
  /** Height of the block the entry is for. */
  height: number
  admins: ReadonlySet<string>
  get: (key: string) => CriticalValue | undefined
  /** Committed keys starting with `prefix`. */
  keys: (prefix: string) => string[]
  verify: Verifier
}

/**
 * Authorises entries the admin rule does not: returns undefined when it does
 * not recognise the entry, throws (InvalidEntryError, NotAdminError) to
 * refuse one it owns, or says it is authorised, with the grant use to count
 * when the entry carries a grant. The entry's signature by `e.admin` is
 * checked by critical state before, whoever authorises it. Deterministic:
 * the chain, never the clock (an entry's own expiresAt bounds its life).
 */
export type EntryAuthority = (e: Entry, ctx: AuthorityContext) => Promise<{ maxUses?: number } | undefined>

/** Grant uses counted within one block, so a block cannot spend a single-use grant twice. */
export type GrantTally = Map<string, number>

/** A grant's identity: sha256 of its bytes (uses are counted per grant, network-wide). */
export function grantId (grant: Uint8Array): string { return hex(sha256(grant)) }

interface Stored { value: string, height: number }

/** A key's own rule, else the rule of the longest prefix (a rule key ending in '/') it starts with. */
function ruleFor (rules: ReadonlyMap<string, KeyRule>, key: string): KeyRule | undefined {
  const exact = rules.get(key)
  if (exact !== undefined) return exact
  let best: [string, KeyRule] | undefined
  for (const [k, r] of rules) {
    if (k.endsWith('/') && key.startsWith(k) && (best === undefined || k.length > best[0].length)) best = [k, r]
  }
  return best?.[1]
}

/** Run the key rules on a genesis's initial values, as every node does when it loads it; throws InvalidGenesisError. */
export function checkGenesisValues (genesis: Genesis, keyRules: ReadonlyMap<string, KeyRule> | ReadonlyArray<readonly [string, KeyRule]>): void {
  const rules = keyRules instanceof Map ? keyRules as ReadonlyMap<string, KeyRule> : new Map(keyRules as ReadonlyArray<readonly [string, KeyRule]>)
  for (const [k, v] of Object.entries(genesis.values)) {
    try { ruleFor(rules, k)?.(v, k) } catch (err) { throw new InvalidGenesisError(`genesis value ${k}: ${(err as Error).message}`) }
  }
}

/** Parse the JSON peer-id list of `bft/validators` or `bft/admins`; throws InvalidEntryError. */
export function parsePeerList (key: string, value: string | null): string[] {
  if (value === null) throw new InvalidEntryError(`${key} cannot be deleted`)
  let ids: unknown
  try { ids = JSON.parse(value) } catch { throw new InvalidEntryError(`${key} must be a JSON array of peer ids`) }
  if (!Array.isArray(ids) || ids.length === 0 || ids.length > MAX_VALIDATORS) {
    throw new InvalidEntryError(`${key} must be a JSON array of 1..${MAX_VALIDATORS} peer ids`)
  }
  for (const id of ids) {
    if (typeof id !== 'string' || !isEd25519PeerId(id)) throw new InvalidEntryError(`${key}: ${String(id).slice(0, 64)} is not an Ed25519 peer id`)
  }
  return [...new Set(ids as string[])].sort()
}

export class CriticalState extends EventTarget implements CriticalConfig {
  readonly genesis: Genesis
  readonly chain: Uint8Array
  private readonly verify: Verifier
  private readonly store: BlockStore
  private readonly kv = new Map<string, Stored>()
  private readonly certs: Certificate[] = []
  private readonly hashes: Uint8Array[]
  private readonly validatorHistory: Array<{ from: number, set: ValidatorSet }>
  private readonly adminHistory: Array<{ from: number, admins: Set<string> }>
  private readonly committedIds = new Set<string>()
  private readonly grantUseCount = new Map<string, number>()
  private readonly authorities: readonly EntryAuthority[]
  private queue: Promise<unknown> = Promise.resolve()
  private readonly onStoreFailure: CriticalStateInit['onStoreFailure']
  private readonly keyRules: ReadonlyMap<string, KeyRule>

  constructor (init: CriticalStateInit) {
    super()
    this.genesis = init.genesis
    this.chain = genesisHash(init.genesis)
    this.verify = init.verify
    this.store = init.store
    this.onStoreFailure = init.onStoreFailure
    this.keyRules = new Map(init.keyRules ?? [])
    this.authorities = init.authorities ?? []
    checkGenesisValues(init.genesis, this.keyRules)
    this.hashes = [this.chain]
    this.validatorHistory = [{ from: 1, set: new ValidatorSet(init.genesis.validators) }]
    this.adminHistory = [{ from: 1, admins: new Set(init.genesis.admins) }]
    for (const [k, v] of Object.entries(init.genesis.values)) this.kv.set(k, { value: v, height: 0 })
    this.kv.set(VALIDATORS_KEY, { value: JSON.stringify(init.genesis.validators), height: 0 })
    this.kv.set(ADMINS_KEY, { value: JSON.stringify(init.genesis.admins), height: 0 })
  }

  /** Replay the block store, re-verifying every certificate. */
  async load (): Promise<void> {
    for (const cert of await this.store.load()) {
      await this.verifyNext(cert)
      this.apply(cert)
    }
  }

  height (): number { return this.certs.length }

  /** Subscribe to committed changes (one call per entry, in commit order); returns the unsubscribe function. */
  onChange (listener: (change: CriticalChange) => void): () => void {
    const fn = (evt: Event): void => { listener((evt as CustomEvent<CriticalChange>).detail) }
    this.addEventListener('change', fn)
    return () => { this.removeEventListener('change', fn) }
  }
  lastHash (): Uint8Array { return this.hashes[this.hashes.length - 1] }
  certificate (height: number): Certificate | undefined { return this.certs[height - 1] }
  hashAt (height: number): Uint8Array | undefined { return this.hashes[height] }
  isCommitted (id: string): boolean { return this.committedIds.has(id) }

  /** Set in force at `height`; known up to height() + VALIDATOR_CHANGE_DELAY. */
  validatorsAt (height: number): ValidatorSet {
    if (height > this.height() + VALIDATOR_CHANGE_DELAY) throw new RangeError(`validator set of height ${height} is not known yet`)
    for (let i = this.validatorHistory.length - 1; i >= 0; i--) {
      if (this.validatorHistory[i].from <= height) return this.validatorHistory[i].set
    }
    return this.validatorHistory[0].set
  }

  adminsAt (height: number): Set<string> {
    for (let i = this.adminHistory.length - 1; i >= 0; i--) {
      if (this.adminHistory[i].from <= height) return this.adminHistory[i].admins
    }
    return this.adminHistory[0].admins
  }

  get (key: string): CriticalValue | undefined {
    const s = this.kv.get(key)
    if (s === undefined) return undefined
    return { key, value: s.value, height: s.height, certificate: s.height === 0 ? null : this.certs[s.height - 1] }
  }

  entries (): CriticalValue[] {
    return [...this.kv.keys()].sort().map(k => this.get(k) as CriticalValue)
  }

  /**
   * Check an entry for inclusion in a block at `height`: limits, the reserved
   * keys' format, an authorised admin's valid signature, not already
   * committed. Deterministic (no clock): expiry is checked by the caller.
   */
  async validateEntry (e: Entry, height: number, tally?: GrantTally): Promise<void> {
    if (Buffer.byteLength(e.key) > MAX_KEY_BYTES) throw new InvalidEntryError('key too long')
    if (e.value !== null && Buffer.byteLength(e.value) > this.genesis.params.maxValueBytes) {
      throw new InvalidEntryError(`value exceeds ${this.genesis.params.maxValueBytes} bytes`)
    }
    if (e.key === VALIDATORS_KEY || e.key === ADMINS_KEY) parsePeerList(e.key, e.value)
    const rule = this.ruleFor(e.key)
    if (rule !== undefined) {
      try { rule(e.value, e.key) } catch (err) { throw new InvalidEntryError(`${e.key}: ${(err as Error).message}`) }
    }
    if (!await this.verify(e.admin, ENTRY_DOMAIN, entrySignBytes(this.chain, e), e.signature)) {
      throw new InvalidEntryError(`bad entry signature from ${e.admin}`)
    }
    if (this.committedIds.has(entryId(this.chain, e))) throw new InvalidEntryError('entry already committed (replay)')
    await this.authorize(e, height, tally)
  }

  /** Uses of a grant committed so far. */
  grantUses (id: string): number { return this.grantUseCount.get(id) ?? 0 }

  /** The admin set, or an authority; a grant is spent only within its use limit. */
  private async authorize (e: Entry, height: number, tally?: GrantTally): Promise<void> {
    const admins = this.adminsAt(height)
    if (e.grant === undefined && admins.has(e.admin)) return
    const ctx: AuthorityContext = { chain: this.chain, height, admins, get: (k) => this.get(k), keys: (p) => [...this.kv.keys()].filter(k => k.startsWith(p)), verify: this.verify }
    for (const authority of this.authorities) {
      const ok = await authority(e, ctx)
      if (ok === undefined) continue
      if (e.grant === undefined) return
      const id = grantId(e.grant)
      const used = this.grantUses(id) + (tally?.get(id) ?? 0)
      const max = ok.maxUses ?? 1
      if (used >= max) throw new InvalidEntryError(`grant already used ${used} of ${max} time${max === 1 ? '' : 's'}`)
      tally?.set(id, (tally.get(id) ?? 0) + 1)
      return
    }
    if (e.grant !== undefined) throw new InvalidEntryError(`no authority accepts the grant of ${e.key}`)
    throw new NotAdminError(`${e.admin} is not an admin`)
  }

  /** A key's own rule, else the rule of the longest prefix rule (a rule key ending in '/') it starts with. */
  private ruleFor (key: string): KeyRule | undefined { return ruleFor(this.keyRules, key) }

  /** Throws InvalidCertificateError unless `cert` is a valid certificate for height() + 1. */
  async verifyNext (cert: Certificate): Promise<void> {
    const b = cert.block
    const h = this.height() + 1
    if (b.height !== h) throw new InvalidCertificateError(`certificate for height ${b.height}, expected ${h}`)
    if (!bytesEqual(b.prevHash, this.lastHash())) throw new InvalidCertificateError(`certificate for height ${h} does not extend our chain`)
    await verifyCertificate(cert, this.validatorsAt(h), this.chain, this.verify)
    if (b.entries.length === 0 || b.entries.length > this.genesis.params.maxBlockEntries) {
      throw new InvalidCertificateError(`block ${h} has ${b.entries.length} entries`)
    }
    const ids = new Set<string>()
    const tally: GrantTally = new Map()
    for (const e of b.entries) {
      const id = entryId(this.chain, e)
      if (ids.has(id)) throw new InvalidCertificateError(`block ${h} repeats an entry`)
      ids.add(id)
      try {
        await this.validateEntry(e, h, tally)
      } catch (err) {
        throw new InvalidCertificateError(`block ${h}: ${(err as Error).message}`)
      }
    }
  }

  /**
   * Verify, persist, apply. Resolves true when applied, false when that
   * height was already committed (the usual race between consensus and
   * gossip). Serialised: concurrent calls run one after another.
   */
  async commit (cert: Certificate): Promise<boolean> {
    const run = this.queue.then(async () => {
      const h = cert.block.height
      if (h <= this.height()) {
        const have = this.hashes[h]
        if (!bytesEqual(have, blockHash(cert.block))) {
          // Only possible if more than f validators are faulty: surface it.
          throw new InvalidCertificateError(`conflicting certificate for committed height ${h}: ${hex(blockHash(cert.block))} vs ${hex(have)}`)
        }
        return false
      }
      await this.verifyNext(cert)
      try {
        await this.store.append(cert)
      } catch (err) {
        if (isFailStop(err)) this.onStoreFailure?.(err)
        throw err
      }
      this.apply(cert)
      this.scheduleSync()
      return true
    })
    this.queue = run.catch(() => {})
    return await run
  }

  private syncing?: Promise<void>
  private syncAgain = false

  /** fdatasync the block store soon; coalesces bursts of commits into one sync. */
  private scheduleSync (): void {
    if (this.syncing !== undefined) { this.syncAgain = true; return }
    this.syncing = (async () => {
      do {
        this.syncAgain = false
        await this.store.sync()
      } while (this.syncAgain)
    })().finally(() => { this.syncing = undefined })
    this.syncing.catch((err: unknown) => { if (isFailStop(err)) this.onStoreFailure?.(err) })
  }

  /** Resolves once every committed block is durable in the block store. */
  async flush (): Promise<void> {
    await this.queue
    while (this.syncing !== undefined) await this.syncing.catch(() => {})
    await this.store.sync()
  }

  private apply (cert: Certificate): void {
    const b = cert.block
    const h = b.height
    this.certs.push(cert)
    this.hashes.push(blockHash(b))
    const changes: CriticalChange[] = []
    for (const e of b.entries) {
      this.committedIds.add(entryId(this.chain, e))
      if (e.grant !== undefined) {
        const id = grantId(e.grant)
        this.grantUseCount.set(id, this.grantUses(id) + 1)
      }
      if (e.value === null) this.kv.delete(e.key)
      else this.kv.set(e.key, { value: e.value, height: h })
      if (e.key === VALIDATORS_KEY) this.validatorHistory.push({ from: h + VALIDATOR_CHANGE_DELAY, set: new ValidatorSet(parsePeerList(e.key, e.value)) })
      if (e.key === ADMINS_KEY) this.adminHistory.push({ from: h + ADMIN_CHANGE_DELAY, admins: new Set(parsePeerList(e.key, e.value)) })
      changes.push({ key: e.key, value: e.value, height: h, certificate: cert })
    }
    this.dispatchEvent(new CustomEvent('commit', { detail: cert }))
    for (const c of changes) this.dispatchEvent(new CustomEvent('change', { detail: c }))
  }
}
