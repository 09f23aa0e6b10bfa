/**
 * Tunables: one documented parameter set per module, one value per profile,
 * validated once.
 *
 * The shape is gossipsub's `peer-score-params.ts` trio — defaults, create,
 * validate — with mycel's three profiles:
 *
 *  - `lan`: the default; hosts on one site, sub-millisecond RTTs.
 *  - `wan`: hosts across regions; timers several times slower, fewer false
 *    suspicions on lossy links.
 *  - `test`: fast timers so tests detect and recover in about a second.
 *
 * A module declares its set once with `defineTunables({ module, schema,
 * profiles, relations })`: the zod `schema` says each field's type and
 * range, `relations` the rules between fields (e.g. a lease must outlive
 * its renew interval plus the clock skew allowed). Every profile table is
 * validated when the module loads, so a bad default fails at once, in every
 * test; `create(profile, overrides)` validates what an operator or a test
 * overrides the same way. The result is frozen: a tunable read at any time
 * is the tunable that was validated.
 *
 * Every profile table goes through it: protocols/<name>/constants.ts
 * (`membershipTunables`, `electionTunables`, ...), daemon/profiles.ts
 * (`libp2pTunables`), managers/constants.ts and each role's duty tunables
 * (managers/registry.ts). The one way to resolve a module's tunables is
 * `defaults(profile)` or `create(profile, overrides)`.
 */
import { z } from 'zod'

/** The timer profiles, named once for every module (above); the agent picks one for all of them (`--profile`). */
export type ProfileName = 'lan' | 'wan' | 'test'
export const PROFILE_NAMES: readonly ProfileName[] = ['lan', 'wan', 'test']

/** A tunable set broke its schema or a relation; the message names the module, profile and field. */
export class InvalidTunablesError extends Error {
  static name = 'InvalidTunablesError'
  override name = 'InvalidTunablesError'
  constructor (readonly module: string, readonly problems: string[]) {
    super(`invalid ${module} tunables: ${problems.join('; ')}`)
  }
}

export interface TunablesSpec<T extends object> {
  /** Module name, used in error messages (e.g. 'membership'). */
  module: string
  /** Type and range of every field. */
  schema: z.ZodType<T>
  /** One complete set per profile. */
  profiles: Readonly<Record<ProfileName, T>>
  /**
   * Rules between fields: each returns a message when broken, naming the
   * fields and saying why the rule holds, e.g.
   * `t => t.leaseMs > t.renewMs + t.skewMs ? undefined : 'leaseMs must exceed renewMs + skewMs'`.
   */
  relations?: ReadonlyArray<(t: T) => string | undefined>
}

export interface Tunables<T extends object> {
  readonly module: string
  /** The profile's validated defaults (frozen). */
  defaults: (profile: ProfileName) => Readonly<T>
  /** The profile's defaults with `overrides` applied (undefined values ignored), validated and frozen. */
  create: (profile: ProfileName, overrides?: Partial<T>) => Readonly<T>
  /** Throws InvalidTunablesError unless `t` satisfies the schema and every relation; returns it frozen. */
  validate: (t: T, label?: string) => Readonly<T>
}

export function defineTunables<T extends object> (spec: TunablesSpec<T>): Tunables<T> {
  const validate = (t: T, label = 'custom'): Readonly<T> => {
    // jitless: a tunable set is parsed a few times per process (its three profiles at load, an override), so
    // zod's generated fast path would cost more to build than it saves (docs/performance.md, twenty-first pass).
    const parsed = spec.schema.safeParse(t, { jitless: true })
    if (!parsed.success) {
      throw new InvalidTunablesError(spec.module, parsed.error.issues.map(i => `${label}: ${i.path.join('.') || '(set)'} ${i.message}`))
    }
    const broken = (spec.relations ?? []).map(r => r(parsed.data)).filter((m): m is string => m !== undefined)
    if (broken.length > 0) throw new InvalidTunablesError(spec.module, broken.map(m => `${label}: ${m}`))
    return deepFreeze(parsed.data)
  }
  const validated = {} as Record<ProfileName, Readonly<T>>
  for (const p of PROFILE_NAMES) validated[p] = validate(spec.profiles[p], p)
  // A name from outside the type system (a cast, JSON): say so rather than return undefined.
  const defaults = (profile: ProfileName): Readonly<T> => {
    if (!PROFILE_NAMES.includes(profile)) throw new InvalidTunablesError(spec.module, [`unknown profile ${JSON.stringify(profile)} (${PROFILE_NAMES.join(', ')})`])
    return validated[profile]
  }
  return {
    module: spec.module,
    defaults,
    create: (profile, overrides) => {
      const set = Object.entries(overrides ?? {}).filter(([, v]) => v !== undefined)
      return set.length === 0 ? defaults(profile) : validate({ ...defaults(profile), ...Object.fromEntries(set) }, profile)
    },
    validate
  }
}

/** Schema pieces most tunables are made of. */
export const tunable = {
  /** A count, a size in bytes or a duration in ms that must be at least 1. */
  positive: () => z.number().int().positive(),
  /** A duration in ms or a count where 0 means "none" or "at once". */
  nonNegative: () => z.number().int().nonnegative(),
  /** A random fraction in [0, 1), e.g. timer jitter. */
  fraction: () => z.number().min(0).lt(1)
}

function deepFreeze<T> (v: T): Readonly<T> {
  if (v !== null && typeof v === 'object' && !Object.isFrozen(v)) {
    Object.freeze(v)
    for (const x of Object.values(v)) deepFreeze(x)
  }
  return v
}
