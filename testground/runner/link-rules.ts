/**
 * How one network configuration changes an instance's link, with the semantics of testground's
 * sidecar (pkg/sidecar/docker_network.go ConfigureNetwork, pkg/sidecar/link.go Shape and AddRules):
 *
 * - the routing policy is applied first, on every config;
 * - `enable = false` detaches the data network and nothing else of the config is applied; a later
 *   enabled config attaches it again, and the per-subnet filters (routes, which outlive the link) are
 *   still there;
 * - `Shape` replaces the link shape with `default`'s (bandwidth, loss, latency, ...); `default.filter`
 *   is not applied (sdk-go marks it "not implemented");
 * - `AddRules` walks `rules` in order, per subnet: drop adds a blackhole route, reject a prohibit
 *   route (each replacing the other for that subnet), accept deletes both. Nothing else of a rule is
 *   applied, and subnets a config does not name keep what they had: an empty `rules` list changes
 *   nothing.
 *
 * The filter routes are the namespace's own state (shaping.ts routeCommands); this function keeps the
 * rest (enabled, routing policy, link shape) and is pure: the sidecar renders the result and keeps it
 * only once it is applied. What testground ignores silently comes back as a warning, so a plan that
 * relies on it here learns that it would not work there.
 */
import {
  FILTER_ACCEPT, FILTER_DROP, FILTER_REJECT, cidrParts, netemAsked, networkOf,
  type LinkShape, type LinkState, type NetworkConfig
} from './shaping.js'

const OPEN_SHAPE: LinkShape = { latencyNs: 0, jitterNs: 0, bandwidth: 0, filter: FILTER_ACCEPT, loss: 0, corrupt: 0, reorder: 0, duplicate: 0 }

/** A link as the sidecar first configures it: enabled, unshaped, no filters. */
export function initialLinkState (): LinkState {
  return { enabled: true, routingPolicy: 'allow_all', shape: { ...OPEN_SHAPE } }
}

export interface AppliedConfig {
  state: LinkState
  /** what the config asked for that testground would not do (and neither do we) */
  warnings: string[]
}

const FILTER_NAME: Record<number, string> = { [FILTER_ACCEPT]: 'accept', [FILTER_REJECT]: 'reject', [FILTER_DROP]: 'drop' }

/** True when `narrow` lies inside `wide` (or equals it). */
function within (narrow: string, wide: string): boolean {
  const n = cidrParts(narrow)
  const w = cidrParts(wide)
  if (n.prefix < w.prefix) return false
  const mask = w.prefix === 0 ? 0 : (0xffffffff << (32 - w.prefix)) >>> 0
  return ((n.base & mask) >>> 0) === w.base
}

/** Rule shape fields a config set; AddRules reads only the filter. */
function ruleShapeFields (s: LinkShape): string[] {
  const set = netemAsked(s)
  if (s.bandwidth > 0) set.unshift('bandwidth')
  if (s.loss > 0) set.unshift('loss')
  return set
}

/**
 * The link after `cfg`, from `prev` (not modified). `dataSubnet` is TEST_SUBNET; it decides which
 * rules can affect the data network at all (its connected route beats any wider one).
 */
export function applyConfig (prev: LinkState, cfg: NetworkConfig, dataSubnet: string): AppliedConfig {
  const warnings: string[] = []
  const data = networkOf(dataSubnet)
  const state: LinkState = { ...prev, routingPolicy: cfg.routingPolicy }
  if (!cfg.enable) {
    state.enabled = false
    if (cfg.rules.length > 0) warnings.push(`enable = false: the ${cfg.rules.length} rule(s) of this config are not applied (testground detaches the data network and stops there); the filter routes set earlier stay for when it is enabled again`)
    return { state, warnings }
  }
  state.enabled = true
  state.shape = { ...cfg.default, filter: FILTER_ACCEPT }
  if (cfg.default.filter !== FILTER_ACCEPT) {
    const f = cfg.default.filter
    warnings.push(`default.filter = ${f} (${FILTER_NAME[f]}) is ignored, as testground's sidecar ignores it (Shape applies only the link shape). ` +
      `To ${FILTER_NAME[f]} traffic use a rule per peer, rules: [{ subnet: '<peer IP>/32', filter: ${f} }], ` +
      'or enable: false to detach the data network')
  }
  cfg.rules.forEach((rule, i) => {
    const where = `rules[${i}] (${rule.subnet})`
    const ignored = ruleShapeFields(rule.shape)
    if (ignored.length > 0) {
      warnings.push(`${where}: ${ignored.join(', ')} ignored, as testground's sidecar applies only a rule's filter; shape the whole link with default`)
    }
    const f = rule.shape.filter
    if (f === FILTER_ACCEPT) return
    if (rule.subnet === data) {
      warnings.push(`${where}: a ${FILTER_NAME[f]} rule for the whole data subnet replaces its connected route (here as under testground), ` +
        'so an accept rule later leaves the subnet unreachable; use rules for the peers\' addresses (/32)')
    } else if (within(data, rule.subnet)) {
      warnings.push(`${where}: has no effect on the data network ${data}, whose connected route is more specific (as under testground); ` +
        'use rules for the peers\' addresses (/32)')
    }
  })
  return { state, warnings }
}
