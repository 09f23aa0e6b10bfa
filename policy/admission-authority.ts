/**
 * Who besides an admin may change admission keys (critical-state.ts
 * `EntryAuthority`, run by every validator on every entry and by every node
 * on every certified block):
 *
 *  - a joining host redeems a join token: `admission/allow/<itself>`, signed
 *    by itself, carrying the token as grant; the value must be exactly what
 *    the token grants (its regions and id); the entry may not outlive the
 *    token; the grant's uses are counted network-wide; a revoked id cannot
 *    come back this way;
 *  - a host hands its admission over to a new key (`mycel identity rotate`):
 *    `admission/allow/<new>` with `replaces: <itself>`, signed by the old key,
 *    keeping the old id's regions, with a grace of at most MAX_GRACE_MS after
 *    which the old id counts as revoked everywhere;
 *  - a host revokes itself (`admission/revoked/<itself>`).
 *
 * Each of these is authorised by a key the policy already trusts for that
 * purpose, so no elected role is needed to make the commit: any node may
 * relay the entry, validators decide (docs/security.md).
 */
import type { AuthorityContext, EntryAuthority } from '../protocols/bft/critical-state.js'
import { InvalidEntryError, NotAdminError } from '../protocols/bft/errors.js'
import type { Entry } from '../protocols/bft/types.js'
import { VALIDATORS_KEY } from '../protocols/bft/constants.js'
import { ADMISSION_KEY, ALLOW_PREFIX, MAX_GRACE_MS, parseAdmissionSetting, REVOKED_PREFIX, allowEntryJson, parseAllowEntry, type AllowEntry } from './admission-values.js'
import { InvalidJoinTokenError, decodeJoinToken, tokenIdHex, verifyJoinToken } from './join-token.js'

/** The allow entry a token grants its redeemer: the one value a redemption may carry. */
export function grantedEntry (token: { regions: string[] | null, id: Uint8Array }): AllowEntry {
  return { ...(token.regions !== null ? { regions: token.regions } : {}), token: tokenIdHex(token as Parameters<typeof tokenIdHex>[0]) }
}

async function redeem (e: Entry, ctx: AuthorityContext): Promise<{ maxUses: number }> {
  if (e.key !== ALLOW_PREFIX + e.admin) throw new InvalidEntryError(`a join token admits only the peer that signs the entry, not ${e.key}`)
  if (ctx.get(REVOKED_PREFIX + e.admin) !== undefined) throw new InvalidEntryError(`${e.admin} is revoked; a join token cannot admit it again`)
  try {
    const token = decodeJoinToken(e.grant as Uint8Array)
    await verifyJoinToken(token, ctx.chain, ctx.admins, ctx.verify)
    if (e.expiresAt > token.expiresAt) throw new InvalidJoinTokenError('expired', 'the redemption outlives the join token')
    if (e.value !== allowEntryJson(grantedEntry(token))) throw new InvalidEntryError('the value differs from what the join token grants')
    return { maxUses: token.uses }
  } catch (err) {
    if (err instanceof InvalidJoinTokenError) throw new InvalidEntryError(err.message)
    throw err
  }
}

function handOver (e: Entry, ctx: AuthorityContext, a: AllowEntry): void {
  if (ctx.get(REVOKED_PREFIX + e.admin) !== undefined) throw new NotAdminError(`${e.admin} is revoked and cannot hand over its admission`)
  if (!admittedOnChain(e.admin, ctx)) throw new NotAdminError(`${e.admin} is not admitted, so it has no admission to hand over`)
  // One hand-over per key: a stolen old key must not mint a second successor.
  for (const k of ctx.keys(ALLOW_PREFIX)) {
    const v = ctx.get(k)?.value
    if (v === undefined || k === e.key) continue
    try { if (parseAllowEntry(v).replaces === e.admin) throw new NotAdminError(`${e.admin} already handed over to ${k.slice(ALLOW_PREFIX.length)}`) } catch (err) { if (err instanceof NotAdminError) throw err }
  }
  const to = e.key.slice(ALLOW_PREFIX.length)
  if (to === e.admin) throw new InvalidEntryError('a key cannot replace itself')
  if (ctx.get(REVOKED_PREFIX + to) !== undefined) throw new InvalidEntryError(`${to} is revoked`)
  if ((a.graceUntil as number) > e.expiresAt + MAX_GRACE_MS) throw new InvalidEntryError(`the hand-over grace may end at most ${MAX_GRACE_MS / 3600_000} h after the entry expires`)
  // The new id inherits the old one's region restriction, never more.
  const old = ctx.get(ALLOW_PREFIX + e.admin)
  let oldRegions: string[] | undefined
  if (old !== undefined) {
    try { oldRegions = parseAllowEntry(old.value).regions } catch { throw new InvalidEntryError(`the allow entry of ${e.admin} cannot be read`) }
  }
  if (JSON.stringify(oldRegions ?? null) !== JSON.stringify(a.regions ?? null)) {
    throw new InvalidEntryError(`the new key must keep the old one's regions (${oldRegions?.join(', ') ?? 'any'})`)
  }
}

/** Admitted by the committed keys alone (no clock): open mode, or on the allowlist in any form. */
function admittedOnChain (peer: string, ctx: AuthorityContext): boolean {
  let setting
  try { setting = parseAdmissionSetting(ctx.get(ADMISSION_KEY)?.value ?? null) } catch { setting = { mode: 'allowlist' as const, allow: [] } }
  if (setting.mode === 'open') return true
  if (setting.allow.includes(peer) || ctx.admins.has(peer)) return true
  const validators = ctx.get(VALIDATORS_KEY)?.value
  if (validators !== undefined && (JSON.parse(validators) as string[]).includes(peer)) return true
  return ctx.get(ALLOW_PREFIX + peer) !== undefined
}

/** The admission authority (see the file comment). */
export const admissionAuthority: EntryAuthority = async (e, ctx) => {
  if (e.grant !== undefined) {
    if (!e.key.startsWith(ALLOW_PREFIX)) return undefined
    return await redeem(e, ctx)
  }
  if (e.key === REVOKED_PREFIX + e.admin && e.value !== null) return {}
  if (e.key.startsWith(ALLOW_PREFIX) && e.value !== null) {
    let a: AllowEntry
    try { a = parseAllowEntry(e.value) } catch { return undefined }
    if (a.replaces !== e.admin) return undefined
    handOver(e, ctx, a)
    return {}
  }
  return undefined
}
