/**
 * The one rule for region names, shared by the config file and flags, the
 * admin API's `region` parameters and the role leases (whose DHT keys embed
 * the region). A name that passes here is safe in a DHT key, a URL path
 * segment and a log line.
 */

/** Lowercase letters, digits, `.`, `_`, `-`; starts with a letter or digit; at most 63 characters (a DNS label). */
export const REGION_PATTERN = /^[a-z0-9][a-z0-9._-]{0,62}$/

/** The rule in words, for error messages. */
export const REGION_RULE = 'lowercase letters, digits, . _ - (starting with a letter or digit, max 63)'

export function isRegion (s: string): boolean {
  return REGION_PATTERN.test(s)
}

/** A one-line reason why `s` is not a region name, or undefined when it is one. */
export function regionProblem (s: string): string | undefined {
  if (isRegion(s)) return undefined
  return `invalid region ${JSON.stringify(s.length > 64 ? s.slice(0, 64) + '…' : s)}: ${REGION_RULE}`
}
