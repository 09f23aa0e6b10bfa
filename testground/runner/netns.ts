/**
 * Network namespaces for instances: one bridge per run on the host, one namespace per instance
 * joined to it by a veth pair, addresses from TEST_SUBNET. The host side of the bridge takes the
 * subnet's first address (the "gateway", where the sync service listens); instances take the next
 * ones. No forwarding, NAT or route leaves the bridge: all test traffic stays on this machine.
 *
 * Everything created is recorded and removed by destroy(); `cleanupStale()` removes leftovers of a
 * runner that died (names all start with the `tg` prefixes below).
 */
import { open, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { must, run, mapLimit } from './exec.js'
import { HostSetupError } from './errors.js'

export const NETNS_PREFIX = 'tg-'
export const BRIDGE_PREFIX = 'tgbr-'
export const VETH_PREFIX = 'tgv'

export interface Subnet { base: number, prefix: number }

export function parseCidr (cidr: string): Subnet {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)\/(\d+)$/.exec(cidr)
  if (m === null) throw new HostSetupError(`not an IPv4 CIDR: ${cidr}`)
  const octets = m.slice(1, 5).map(Number)
  const prefix = Number(m[5])
  if (octets.some(o => o > 255) || prefix < 8 || prefix > 30) throw new HostSetupError(`unusable subnet ${cidr} (need a prefix between /8 and /30)`)
  const ip = ((octets[0] << 24) >>> 0) + (octets[1] << 16) + (octets[2] << 8) + octets[3]
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0
  return { base: (ip & mask) >>> 0, prefix }
}

export const ipString = (n: number): string => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.')

export function overlaps (a: Subnet, b: Subnet): boolean {
  const p = Math.min(a.prefix, b.prefix)
  const mask = p === 0 ? 0 : (0xffffffff << (32 - p)) >>> 0
  return ((a.base & mask) >>> 0) === ((b.base & mask) >>> 0)
}

/** Gateway and instance addresses; addresses ending in .0 or .255 are skipped to avoid surprises. */
export function planAddresses (subnet: Subnet, count: number): { gateway: string, addrs: string[] } {
  const size = 2 ** (32 - subnet.prefix)
  const out: string[] = []
  let gateway: string | undefined
  for (let off = 1; off < size - 1 && out.length < count; off++) {
    const ip = subnet.base + off
    if ((ip & 255) === 0 || (ip & 255) === 255) continue
    if (gateway === undefined) gateway = ipString(ip)
    else out.push(ipString(ip))
  }
  if (gateway === undefined || out.length < count) {
    throw new HostSetupError(`subnet ${ipString(subnet.base)}/${subnet.prefix} has room for ${out.length} instances, need ${count}`)
  }
  return { gateway, addrs: out }
}

/** The host's IPv4 neighbour (ARP) table limits gc_thresh1..3; one table serves every namespace. */
const NEIGH_FILES = [1, 2, 3].map(i => `/proc/sys/net/ipv4/neigh/default/gc_thresh${i}`)

/** The host's current gc_thresh1..3. */
export async function readNeighbourLimits (): Promise<number[]> {
  return await Promise.all(NEIGH_FILES.map(async f => Number((await readFile(f, 'utf8')).trim())))
}

/**
 * Neighbour-table thresholds (gc_thresh1..3) that hold every instance's
 * ARP entry for every other instance: N x (N - 1) entries plus the gateway,
 * with room for churn. The kernel default hard limit (1024) is below 32
 * instances talking to each other; past it, new neighbours are not
 * resolved ("neighbor table overflow!") and TCP connects fail, which looks
 * exactly like overloaded agents. Testground's own cluster setup raises the
 * same sysctls on its hosts.
 */
export function neighbourThresholds (instances: number): [number, number, number] {
  const entries = instances * instances + 64
  return [Math.max(128, Math.ceil(entries / 4)), Math.max(512, entries), Math.max(1024, 2 * entries)]
}

export interface InstanceNet { netns: string, hostVeth: string, ip: string, dev: string }

export class NetnsManager {
  readonly bridge: string
  private readonly namespaces = new Set<string>()
  private readonly veths = new Set<string>()
  private bridgeUp = false
  private neighbourRestore?: { original: number[], set: number[] }

  constructor (readonly tag: string, readonly subnet: Subnet, readonly gateway: string) {
    this.bridge = `${BRIDGE_PREFIX}${tag}`
  }

  /** Fails early, with a reason, when this host cannot run instances in namespaces. */
  async preflight (): Promise<void> {
    if (process.getuid?.() !== 0) throw new HostSetupError('network namespaces need root; run as root or use --no-netns')
    for (const tool of [['ip', '-V'], ['nft', '--version'], ['tc', '-V'], ['unshare', '--version']]) {
      const r = await run(tool)
      if (r.code !== 0) throw new HostSetupError(`\`${tool[0]}\` is not usable (${r.stderr.trim() || 'not installed'}); install iproute2, nftables, util-linux or use --no-netns`)
    }
    for (const s of await hostSubnets()) {
      if (overlaps(s, this.subnet)) {
        throw new HostSetupError(`TEST_SUBNET ${ipString(this.subnet.base)}/${this.subnet.prefix} overlaps ${ipString(s.base)}/${s.prefix} already on this host; pick another with --subnet`)
      }
    }
  }

  /**
   * Raises the host's neighbour-table limits to fit `instances` (never
   * lowers them); destroy() puts back the old values unless someone changed
   * them meanwhile. Returns a line for the log when something was changed.
   */
  async sizeNeighbourTable (instances: number): Promise<string | undefined> {
    const want = neighbourThresholds(instances)
    const original = await readNeighbourLimits()
    if (original.every((v, i) => v >= want[i])) return undefined
    const set = original.map((v, i) => Math.max(v, want[i]))
    // Largest first: the kernel keeps gc_thresh1 <= gc_thresh2 <= gc_thresh3 meaningful.
    for (const i of [2, 1, 0]) await writeFile(NEIGH_FILES[i], `${set[i]}\n`)
    this.neighbourRestore = { original, set }
    return `neighbour table limits raised for ${instances} instances: gc_thresh1..3 ${original.join('/')} -> ${set.join('/')}`
  }

  async createBridge (): Promise<void> {
    await must(['ip', 'link', 'add', this.bridge, 'type', 'bridge'])
    this.bridgeUp = true
    await must(['ip', 'addr', 'add', `${this.gateway}/${this.subnet.prefix}`, 'dev', this.bridge])
    await must(['ip', 'link', 'set', this.bridge, 'up'])
  }

  /** Creates namespace `i` with eth0 at `ip`, lo up, and the gateway reachable. */
  async createInstance (i: number, ip: string): Promise<InstanceNet> {
    const netns = `${NETNS_PREFIX}${this.tag}-${i}`
    const hostVeth = `${VETH_PREFIX}${this.tag}${i}`
    const peer = `tgp${this.tag}${i}`
    await must(['ip', 'netns', 'add', netns])
    this.namespaces.add(netns)
    await must(['ip', 'link', 'add', hostVeth, 'type', 'veth', 'peer', 'name', peer])
    this.veths.add(hostVeth)
    await must(['ip', 'link', 'set', peer, 'netns', netns])
    await must(['ip', 'link', 'set', hostVeth, 'master', this.bridge, 'up'])
    await must(['ip', '-n', netns, 'link', 'set', peer, 'name', 'eth0'])
    await must(['ip', '-n', netns, 'addr', 'add', `${ip}/${this.subnet.prefix}`, 'dev', 'eth0'])
    await must(['ip', '-n', netns, 'link', 'set', 'eth0', 'up'])
    await must(['ip', '-n', netns, 'link', 'set', 'lo', 'up'])
    return { netns, hostVeth, ip, dev: 'eth0' }
  }

  /** Removes every namespace (their veth ends and nft tables go with them) and the bridge. */
  async destroy (): Promise<string[]> {
    const problems: string[] = []
    await mapLimit([...this.namespaces], 8, async ns => {
      const r = await run(['ip', 'netns', 'del', ns])
      if (r.code !== 0 && !/No such file/.test(r.stderr)) problems.push(`netns ${ns}: ${r.stderr.trim()}`)
      this.namespaces.delete(ns)
    })
    for (const v of this.veths) {
      // Normally gone with its namespace; left only if the move into the namespace failed.
      await run(['ip', 'link', 'del', v])
      this.veths.delete(v)
    }
    if (this.bridgeUp) {
      const r = await run(['ip', 'link', 'del', this.bridge])
      if (r.code !== 0 && !/Cannot find/.test(r.stderr)) problems.push(`bridge ${this.bridge}: ${r.stderr.trim()}`)
      this.bridgeUp = false
    }
    if (this.neighbourRestore !== undefined) {
      const { original, set } = this.neighbourRestore
      this.neighbourRestore = undefined
      try {
        const now = await readNeighbourLimits()
        if (now.every((v, i) => v === set[i])) {
          for (const i of [0, 1, 2]) await writeFile(NEIGH_FILES[i], `${original[i]}\n`)
        }
      } catch (err) {
        problems.push(`neighbour table limits: ${(err as Error).message}`)
      }
    }
    return problems
  }
}

function parseCidrLoose (ip: string, prefix: number): Subnet {
  const o = ip.split('.').map(Number)
  const n = (((o[0] << 24) >>> 0) + (o[1] << 16) + (o[2] << 8) + o[3]) >>> 0
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0
  return { base: (n & mask) >>> 0, prefix }
}

/** IPv4 routes and addresses on the host (default routes excluded). */
async function hostSubnets (): Promise<Subnet[]> {
  const routes = await must(['ip', '-4', '-o', 'route', 'show', 'table', 'all'])
  const addrs = await must(['ip', '-4', '-o', 'addr', 'show'])
  const cidrs = [
    ...routes.split('\n').map(l => l.split(' ')[0]).filter(d => /^\d+\.\d+\.\d+\.\d+(\/\d+)?$/.test(d)),
    ...[...addrs.matchAll(/inet (\d+\.\d+\.\d+\.\d+\/\d+)/g)].map(m => m[1])
  ]
  return cidrs.map(d => {
    const [ip, p] = (d.includes('/') ? d : `${d}/32`).split('/')
    return parseCidrLoose(ip, Number(p))
  }).filter(s => s.prefix > 0)
}

/** A subnet lock without a pid is another runner's claim in progress for this long, ms. */
const EMPTY_LOCK_GRACE_MS = 10_000

function alive (pid: number): boolean {
  try { process.kill(pid, 0); return true } catch (err) { return (err as NodeJS.ErrnoException).code === 'EPERM' }
}

/**
 * Picks a free /16 in testground's data range (16.0.0.0 to 31.255.0.0), so several runners can work
 * side by side: skips blocks the host already routes, and claims the block with a lock file (holding
 * our pid; a dead owner's lock is taken over). Returns the CIDR and a release function.
 */
export async function claimSubnet (lockDir = '/tmp'): Promise<{ cidr: string, release: () => Promise<void> }> {
  const used = await hostSubnets()
  for (let a = 16; a < 32; a++) {
    for (let b = 0; b < 256; b++) {
      const s: Subnet = { base: ((a << 24) >>> 0) + (b << 16), prefix: 16 }
      if (used.some(u => overlaps(u, s))) continue
      const lock = `${lockDir}/tg-subnet-${a}-${b}.lock`
      try {
        const fh = await open(lock, 'wx')
        await fh.writeFile(String(process.pid))
        await fh.close()
      } catch {
        const owner = Number(await readFile(lock, 'utf8').catch(() => ''))
        if (Number.isInteger(owner) && owner > 0 && alive(owner)) continue
        // No pid yet: another runner is between creating the lock and writing
        // its pid. Only a lock that stayed empty for a while is abandoned.
        if (!(owner > 0) && Date.now() - ((await stat(lock).catch(() => undefined))?.mtimeMs ?? 0) < EMPTY_LOCK_GRACE_MS) continue
        await rm(lock, { force: true })
        b-- // retry this block now that the stale lock is gone
        continue
      }
      return { cidr: `${a}.${b}.0.0/16`, release: async () => { await rm(lock, { force: true }) } }
    }
  }
  throw new HostSetupError('no free /16 between 16.0.0.0 and 31.255.0.0; pass --subnet')
}

/** Removes namespaces, veths and bridges left by runners that died. Returns what it removed. */
export async function cleanupStale (): Promise<string[]> {
  const removed: string[] = []
  const list = await run(['ip', 'netns', 'list'])
  for (const line of list.stdout.split('\n')) {
    const ns = line.split(' ')[0]
    if (ns.startsWith(NETNS_PREFIX)) {
      await run(['ip', 'netns', 'del', ns])
      removed.push(`netns ${ns}`)
    }
  }
  const links = await run(['ip', '-o', 'link', 'show'])
  for (const m of links.stdout.matchAll(/^\d+: ([^:@ ]+)/gm)) {
    const name = m[1]
    if (name.startsWith(BRIDGE_PREFIX) || name.startsWith(VETH_PREFIX)) {
      await run(['ip', 'link', 'del', name])
      removed.push(`link ${name}`)
    }
  }
  return removed
}
