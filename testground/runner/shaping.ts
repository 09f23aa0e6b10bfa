/**
 * testground network configurations (sdk `network.Config`, as the sdk sends it: snake_case keys) and
 * the state of one instance's link, rendered as an nftables ruleset and tc commands for its namespace.
 * How a config changes that state (testground's ConfigureNetwork: Shape, AddRules, enable) is
 * link-rules.ts; this file parses configs and renders states.
 *
 * What renders as what:
 * - a subnet's drop / reject filter    → a blackhole / prohibit route for it, as testground's AddRules
 *                                        makes (so lookups, errors and the connected route behave as
 *                                        there); a /32 route to the gateway keeps the sync service, which
 *                                        shares the data network here, off their path.
 * - link disabled (`enable = false`) → drop all data traffic (the sync service stays reachable).
 * - the link shape's `loss` (percent) → nftables `numgen random` drop on data traffic.
 * - the link shape's `bandwidth` (bits/s) → tc htb class on eth0 (egress).
 * - `routing_policy = deny_all`       → nothing but the sync service on the host side.
 * - latency, jitter, corrupt, reorder, duplicate: these need tc netem, which this kernel lacks; we refuse
 *   with UnsupportedShapingError rather than pretend.
 * All shaping is egress, like testground's.
 */
import { UnsupportedShapingError } from './errors.js'

export const FILTER_ACCEPT = 0
export const FILTER_REJECT = 1
export const FILTER_DROP = 2
export type Blocking = typeof FILTER_REJECT | typeof FILTER_DROP

export interface LinkShape {
  latencyNs: number
  jitterNs: number
  /** bits per second; 0 = unlimited. (sdk-go's comment says bytes, but it feeds netlink's htb rate, which is bits.) */
  bandwidth: number
  filter: number
  /** percent */
  loss: number
  corrupt: number
  reorder: number
  duplicate: number
}

export interface NetworkConfig {
  network: string
  enable: boolean
  default: LinkShape
  rules: Array<{ subnet: string, shape: LinkShape }>
  callbackState: string
  callbackTarget: number
  routingPolicy: 'allow_all' | 'deny_all'
  ipv4?: string
}

/**
 * What the sidecar keeps of an instance's link between configs, besides the filter routes (those live
 * in the namespace's routing table, as under testground).
 */
export interface LinkState {
  /** false after `enable = false` (testground detaches the data network), until a config enables it */
  enabled: boolean
  routingPolicy: 'allow_all' | 'deny_all'
  /** the last enabled config's `default` shape; its `filter` is never applied */
  shape: LinkShape
}

export interface ShapingContext {
  /** interface inside the namespace */
  dev: string
  /** the host side of the bridge; the sync service listens here */
  gateway: string
  syncPort: number
  /** TEST_SUBNET */
  subnet: string
}

const CIDR4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}\/([0-9]|[12][0-9]|3[0-2])$/
/** nftables table name used in every instance namespace. */
export const NFT_TABLE = 'testground'

function n (v: unknown, where: string): number {
  if (v === undefined || v === null) return 0
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new UnsupportedShapingError(`${where} must be a non-negative number`)
  return v
}

function shape (raw: unknown, where: string): LinkShape {
  const r = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>
  const filter = n(r.filter, `${where}.filter`)
  if (![0, 1, 2].includes(filter)) throw new UnsupportedShapingError(`${where}.filter must be 0 (accept), 1 (reject) or 2 (drop)`)
  const loss = n(r.loss, `${where}.loss`)
  if (loss > 100) throw new UnsupportedShapingError(`${where}.loss is a percentage (0..100)`)
  return {
    latencyNs: n(r.latency, `${where}.latency`),
    jitterNs: n(r.jitter, `${where}.jitter`),
    bandwidth: n(r.bandwidth ?? r.bandwith, `${where}.bandwidth`),
    filter,
    loss,
    corrupt: n(r.corrupt, `${where}.corrupt`),
    reorder: n(r.reorder, `${where}.reorder`),
    duplicate: n(r.duplicate, `${where}.duplicate`)
  }
}

/** Accepts an IPNet as testground encodes it (a CIDR string) or as {IP, Mask}-less strings. */
function cidr (v: unknown, where: string): string {
  if (typeof v !== 'string' || !CIDR4.test(v)) throw new UnsupportedShapingError(`${where} must be an IPv4 CIDR like 16.0.1.0/24, got ${JSON.stringify(v)}`)
  return v
}

/** Address and mask length as 32-bit number and prefix; `cidr` is already checked against CIDR4. */
export function cidrParts (c: string): { base: number, prefix: number } {
  const [ip, len] = c.split('/')
  const prefix = Number(len)
  const addr = ip.split('.').reduce((a, o) => a * 256 + Number(o), 0)
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0
  return { base: (addr & mask) >>> 0, prefix }
}

/**
 * The network a CIDR names (16.0.1.7/24 → 16.0.1.0/24), as Go's net.ParseCIDR gives it to the sidecar:
 * a later rule for 16.0.1.0/24 then addresses the same route.
 */
export function networkOf (c: string): string {
  const { base, prefix } = cidrParts(c)
  return `${[base >>> 24, (base >>> 16) & 255, (base >>> 8) & 255, base & 255].join('.')}/${prefix}`
}

/** Parses a config as published by the sdk on `network:<hostname>`. Throws UnsupportedShapingError. */
export function parseNetworkConfig (raw: unknown): NetworkConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new UnsupportedShapingError('network config must be an object')
  const r = raw as Record<string, unknown>
  const network = typeof r.network === 'string' && r.network !== '' ? r.network : 'default'
  if (network !== 'default') throw new UnsupportedShapingError(`unsupported network: ${network} (only "default")`)
  const rules = r.rules === undefined || r.rules === null ? [] : r.rules
  if (!Array.isArray(rules)) throw new UnsupportedShapingError('rules must be an array')
  const policy = r.routing_policy === undefined || r.routing_policy === '' ? 'allow_all' : r.routing_policy
  if (policy !== 'allow_all' && policy !== 'deny_all') throw new UnsupportedShapingError(`routing_policy must be allow_all or deny_all, got ${JSON.stringify(policy)}`)
  if (r.IPv6 !== undefined && r.IPv6 !== null && r.IPv6 !== '') throw new UnsupportedShapingError('IPv6 addresses are not supported')
  const cfg: NetworkConfig = {
    network,
    enable: r.enable !== false,
    default: shape(r.default, 'default'),
    rules: rules.map((rule: unknown, i: number) => {
      const rr = (typeof rule === 'object' && rule !== null ? rule : {}) as Record<string, unknown>
      return { subnet: networkOf(cidr(rr.subnet, `rules[${i}].subnet`)), shape: shape(rr, `rules[${i}]`) }
    }),
    callbackState: typeof r.callback_state === 'string' ? r.callback_state : '',
    callbackTarget: typeof r.callback_target === 'number' ? r.callback_target : 0,
    routingPolicy: policy
  }
  if (r.IPv4 !== undefined && r.IPv4 !== null && r.IPv4 !== '') cfg.ipv4 = cidr(r.IPv4, 'IPv4')
  return cfg
}

/** Link-shape fields that need tc netem (not in this kernel). */
export const NETEM_FIELDS = ['latencyNs', 'jitterNs', 'corrupt', 'reorder', 'duplicate'] as const

/** Names of the netem fields a shape asks for ("latency", "jitter", ...). */
export function netemAsked (s: LinkShape): string[] {
  return NETEM_FIELDS.filter(k => s[k] > 0).map(k => k.replace('Ns', ''))
}

/**
 * Why this config cannot be applied here, or undefined when it can. Only `default`'s shape is ever
 * applied (rules' shape fields are ignored, as by testground), so only it can be refused.
 */
export function unsupportedReason (cfg: NetworkConfig): string | undefined {
  if (!cfg.enable) return undefined
  const asked = netemAsked(cfg.default)
  if (asked.length === 0) return undefined
  return `default: ${asked.join(', ')} need tc netem, which this kernel does not have; the local runner supports filter rules (drop/reject), loss and bandwidth only`
}

/** Drops `loss` percent of packets matching `match`; numgen draws 0..9999, so two decimals of a percent. */
function lossLines (match: string, loss: number): string[] {
  const permyriad = Math.round(loss * 100)
  if (permyriad >= 10000) return [`${match} drop`]
  if (permyriad > 0) return [`${match} numgen random mod 10000 < ${permyriad} drop`]
  return []
}

/**
 * The whole nftables ruleset for one namespace, applied atomically with `nft -f -`. Filters are not
 * here but routes (routeCommands); a packet they drop never reaches this hook, so the link's loss
 * only draws from traffic that leaves, as netem on the link does.
 */
export function nftRuleset (state: LinkState, ctx: ShapingContext): string {
  const lines: string[] = [
    'oifname "lo" accept',
    // The sync service shares the link with the data network here; it must survive every filter.
    `ip daddr ${ctx.gateway} tcp dport ${ctx.syncPort} accept`
  ]
  if (state.routingPolicy === 'deny_all') lines.push(`ip daddr ${ctx.gateway} drop`)
  if (!state.enabled) lines.push('drop')
  else lines.push(...lossLines(`ip daddr ${networkOf(ctx.subnet)}`, state.shape.loss))
  return [
    `table inet ${NFT_TABLE}`,
    `delete table inet ${NFT_TABLE}`,
    `table inet ${NFT_TABLE} {`,
    '  chain output {',
    '    type filter hook output priority 0; policy accept;',
    ...lines.map(l => `    ${l}`),
    '  }',
    '}',
    ''
  ].join('\n')
}

/** Bits per second as tc writes them. htb refuses a zero rate, so the floor is 8bit. */
function rate (bps: number): string {
  return `${Math.max(8, Math.round(bps))}bit`
}

/** Unlimited in practice: well above what a veth carries here. */
const UNLIMITED = '100gbit'

const ROUTE_TYPE: Record<Blocking, string> = { [FILTER_DROP]: 'blackhole', [FILTER_REJECT]: 'prohibit' }

export interface RouteCommand { argv: string[], mayFail: boolean }

/**
 * `ip route` commands (argv without the leading `ip -n <netns>`) that do what testground's AddRules
 * does with the config's rules, in order: replace a blackhole (drop) or prohibit (reject) route for
 * the subnet, or delete both (accept; that neither exists is no error). A disabled link's config
 * applies no rules. The routes stay in the namespace, so they carry the state between configs.
 */
export function routeCommands (cfg: NetworkConfig): RouteCommand[] {
  if (!cfg.enable) return []
  return cfg.rules.flatMap(({ subnet, shape }): RouteCommand[] => {
    if (shape.filter === FILTER_ACCEPT) return ([FILTER_DROP, FILTER_REJECT] as const).map(f => ({ argv: ['route', 'del', ROUTE_TYPE[f], subnet], mayFail: true }))
    return [{ argv: ['route', 'replace', ROUTE_TYPE[shape.filter as Blocking], subnet], mayFail: false }]
  })
}

/**
 * tc commands (argv lists, without the leading `tc`) that make eth0's egress match the link shape. The
 * first command always removes the previous root qdisc (the caller ignores its failure when there
 * was none), so classes and filters of an earlier shape never linger.
 */
export function tcCommands (state: LinkState, ctx: ShapingContext): string[][] {
  const cmds: string[][] = [['qdisc', 'del', 'dev', ctx.dev, 'root']]
  if (!state.enabled || state.shape.bandwidth === 0) return cmds
  cmds.push(
    ['qdisc', 'add', 'dev', ctx.dev, 'root', 'handle', '1:', 'htb', 'default', '10'],
    // class 1:2: the sync service, never shaped
    ['class', 'add', 'dev', ctx.dev, 'parent', '1:', 'classid', '1:2', 'htb', 'rate', UNLIMITED],
    ['filter', 'add', 'dev', ctx.dev, 'parent', '1:', 'protocol', 'ip', 'prio', '1', 'u32', 'match', 'ip', 'dst', `${ctx.gateway}/32`, 'flowid', '1:2'],
    // class 1:10: the link shape
    ['class', 'add', 'dev', ctx.dev, 'parent', '1:', 'classid', '1:10', 'htb', 'rate', rate(state.shape.bandwidth)]
  )
  return cmds
}
