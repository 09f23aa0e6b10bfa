/**
 * Translation of testground network configurations (sdk `network.Config`, as the sdk sends it:
 * snake_case keys) into nftables rulesets and tc commands for one instance's namespace.
 *
 * What maps to what:
 * - `enable = false`            → drop all data traffic (the sync service stays reachable).
 * - `default.filter` 1 / 2      → reject / drop all data traffic.
 * - `rules[].filter` 1 / 2      → reject / drop traffic to that subnet (testground: prohibit/blackhole
 *                                 routes; longest prefix wins, as with routes).
 * - `loss` (percent)            → nftables `numgen random` drop, per rule or default.
 * - `bandwidth` (bits/s)        → tc htb class on eth0 (egress), per rule via u32 filters or default.
 * - `routing_policy = deny_all` → nothing but the sync service on the host side.
 * - latency, jitter, corrupt, reorder, duplicate: these need tc netem, which this kernel lacks; we refuse
 *   with UnsupportedShapingError rather than pretend.
 * All shaping is egress, like testground's.
 */
import { UnsupportedShapingError } from './errors.js'

export const FILTER_ACCEPT = 0
export const FILTER_REJECT = 1
export const FILTER_DROP = 2

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
      return { subnet: cidr(rr.subnet, `rules[${i}].subnet`), shape: shape(rr, `rules[${i}]`) }
    }),
    callbackState: typeof r.callback_state === 'string' ? r.callback_state : '',
    callbackTarget: typeof r.callback_target === 'number' ? r.callback_target : 0,
    routingPolicy: policy
  }
  if (r.IPv4 !== undefined && r.IPv4 !== null && r.IPv4 !== '') cfg.ipv4 = cidr(r.IPv4, 'IPv4')
  return cfg
}

/** Why this config cannot be applied here, or undefined when it can. */
export function unsupportedReason (cfg: NetworkConfig): string | undefined {
  const shapes = [{ where: 'default', s: cfg.default }, ...cfg.rules.map(r => ({ where: `rule ${r.subnet}`, s: r.shape }))]
  for (const { where, s } of shapes) {
    const asked = (['latencyNs', 'jitterNs', 'corrupt', 'reorder', 'duplicate'] as const).filter(k => s[k] > 0)
    if (asked.length > 0) {
      const names = asked.map(k => k.replace('Ns', ''))
      return `${where}: ${names.join(', ')} need tc netem, which this kernel does not have; the local runner supports filter (drop/reject), loss and bandwidth only`
    }
  }
  return undefined
}

function prefixLen (c: string): number { return Number(c.split('/')[1]) }

function verdictLines (match: string, s: LinkShape, terminal: boolean): string[] {
  if (s.filter === FILTER_DROP) return [`${match} drop`]
  if (s.filter === FILTER_REJECT) return [`${match} reject with icmpx type admin-prohibited`]
  const out: string[] = []
  // numgen draws 0..9999, so loss keeps two decimals of a percent.
  const permyriad = Math.round(s.loss * 100)
  if (permyriad >= 10000) return [`${match} drop`]
  if (permyriad > 0) out.push(`${match} numgen random mod 10000 < ${permyriad} drop`)
  if (terminal) out.push(`${match} accept`)
  return out
}

/**
 * The whole nftables ruleset for one namespace, applied atomically with `nft -f -` (the table is
 * recreated, so each config replaces the previous one, as testground's does).
 */
export function nftRuleset (cfg: NetworkConfig, ctx: ShapingContext): string {
  const lines: string[] = [
    'oifname "lo" accept',
    // The sync service shares the link with the data network here; it must survive every filter.
    `ip daddr ${ctx.gateway} tcp dport ${ctx.syncPort} accept`
  ]
  if (cfg.routingPolicy === 'deny_all') lines.push(`ip daddr ${ctx.gateway} drop`)
  if (!cfg.enable) {
    lines.push('drop')
  } else {
    // Longest prefix first: a rule for a /32 beats one for its /24, like routes.
    const rules = [...cfg.rules].sort((a, b) => prefixLen(b.subnet) - prefixLen(a.subnet))
    for (const r of rules) lines.push(...verdictLines(`ip daddr ${r.subnet}`, r.shape, true))
    lines.push(...verdictLines(`ip daddr ${ctx.subnet}`, cfg.default, false))
  }
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

/**
 * tc commands (argv lists, without the leading `tc`) that make eth0's egress match the config. The
 * first command always removes the previous root qdisc (the caller ignores its failure when there
 * was none), so classes and filters of an earlier config never linger.
 */
export function tcCommands (cfg: NetworkConfig, ctx: ShapingContext): string[][] {
  const limited = cfg.rules.filter(r => r.shape.bandwidth > 0)
  const cmds: string[][] = [['qdisc', 'del', 'dev', ctx.dev, 'root']]
  if (cfg.default.bandwidth === 0 && limited.length === 0) return cmds
  cmds.push(
    ['qdisc', 'add', 'dev', ctx.dev, 'root', 'handle', '1:', 'htb', 'default', '10'],
    // class 1:2: the sync service, never shaped
    ['class', 'add', 'dev', ctx.dev, 'parent', '1:', 'classid', '1:2', 'htb', 'rate', UNLIMITED],
    ['filter', 'add', 'dev', ctx.dev, 'parent', '1:', 'protocol', 'ip', 'prio', '1', 'u32', 'match', 'ip', 'dst', `${ctx.gateway}/32`, 'flowid', '1:2'],
    // class 1:10: default shape
    ['class', 'add', 'dev', ctx.dev, 'parent', '1:', 'classid', '1:10', 'htb', 'rate',
      cfg.default.bandwidth > 0 ? rate(cfg.default.bandwidth) : UNLIMITED]
  )
  limited.sort((a, b) => prefixLen(b.subnet) - prefixLen(a.subnet)).forEach((r, i) => {
    const cls = `1:${100 + i}`
    cmds.push(['class', 'add', 'dev', ctx.dev, 'parent', '1:', 'classid', cls, 'htb', 'rate', rate(r.shape.bandwidth)])
    cmds.push(['filter', 'add', 'dev', ctx.dev, 'parent', '1:', 'protocol', 'ip', 'prio', String(2 + i), 'u32', 'match', 'ip', 'dst', r.subnet, 'flowid', cls])
  })
  return cmds
}
