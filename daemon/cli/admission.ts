/**
 * `mycel admission list|allow|revoke|mode|token create`: the network's
 * admission policy through the local agent's admin API (docs/security.md).
 * Changes are BFT commits signed by the agent, which must be an admin.
 */
import { InvalidArgumentError, type Command } from 'commander'
import { apiClient, type ApiFlags } from './client.js'
import { apiOption, parseCount, parseRegion, tokenFileOption } from './options.js'
import { print, printJson, printTable } from './output.js'
import { parseDuration } from '../../protocols/artifacts/manifest.js'
import { MAX_TOKEN_TTL_MS } from '../../policy/join-token.js'
import { isEd25519PeerId } from '../../protocols/bft/genesis.js'

interface Commit { key: string, height: number, latencyMs: number }
interface Listing {
  mode: string
  problem?: string
  height: number
  allowed: Array<{ peerId: string, source: string, regions?: string[], token?: string, replaces?: string }>
  revoked: Array<{ peerId: string, reason: string, height: number, kind: string, replacedBy?: string }>
  self: { peerId: string, standing: string }
}

function collect (v: string, prev: string[] = []): string[] { return [...prev, parseRegion(v)] }

/** `10m`, `2h`, or whole days `7d` (the manifest's units plus days: tokens for a week's onboarding are common). */
function parseTtl (v: string): number {
  const days = /^([0-9]{1,3})d$/.exec(v)
  const ms = days !== null ? Number(days[1]) * 86_400_000 : parseDuration(v)
  if (ms === undefined || ms < 1000 || ms > MAX_TOKEN_TTL_MS) throw new InvalidArgumentError(`expected a duration like 10m, 2h or 7d between 1s and ${MAX_TOKEN_TTL_MS / 86_400_000}d`)
  return ms
}

/** A peer id argument, checked before the agent is contacted (usage error, exit 2). */
function parsePeer (v: string): string {
  if (!isEd25519PeerId(v)) throw new InvalidArgumentError('expected an Ed25519 peer id (12D3KooW…, as `mycel id` prints it)')
  return v
}

function parseMode (v: string): 'open' | 'allowlist' {
  if (v !== 'open' && v !== 'allowlist') throw new InvalidArgumentError('expected open or allowlist')
  return v
}

function parseUses (v: string): number {
  const n = parseCount(v)
  if (n < 1) throw new InvalidArgumentError('expected at least 1')
  return n
}

export function registerAdmissionCommands (program: Command): void {
  const admission = program.command('admission').description('who may join the network: allowlist, revocations, join tokens (critical config)')

  admission.command('list')
    .alias('ls')
    .description('the committed admission policy: mode, allowed peers, revoked peers')
    .addOption(apiOption()).addOption(tokenFileOption())
    .option('--json', 'machine-readable output')
    .action(async (opts: ApiFlags & { json?: boolean }) => {
      const r = await apiClient(opts).get<Listing>('/v1/admission')
      if (opts.json === true) { printJson(r); return }
      print(`mode ${r.mode} (critical height ${r.height}); this agent ${r.self.standing}\n`)
      if (r.problem !== undefined) print(`warning: ${r.problem}\n`)
      if (r.mode === 'allowlist') {
        printTable(r.allowed, [
          { header: 'ALLOWED', value: a => a.peerId },
          { header: 'VIA', value: a => a.source === 'entry' ? (a.token !== undefined ? `token ${a.token.slice(0, 8)}` : a.replaces !== undefined ? 'key rotation' : 'allow') : a.source },
          { header: 'REGIONS', value: a => a.regions?.join(',') ?? 'any' }
        ])
      }
      if (r.revoked.length > 0) {
        printTable(r.revoked, [
          { header: 'REVOKED', value: x => x.peerId },
          { header: 'HEIGHT', value: x => String(x.height) },
          { header: 'REASON', value: x => x.kind === 'rotated' ? `key rotated to ${x.replacedBy ?? '?'}` : x.reason }
        ])
      }
    })

  admission.command('allow')
    .description('admit PEER under the allowlist (a BFT commit)')
    .argument('<peer>', 'peer id of the host (mycel init prints it)', parsePeer)
    .option('--region <name>', 'only as a member of this region, repeatable (default: any)', collect)
    .addOption(apiOption()).addOption(tokenFileOption())
    .option('--json', 'machine-readable output')
    .action(async (peer: string, opts: ApiFlags & { region?: string[], json?: boolean }) => {
      const r = await apiClient(opts).post<Commit>('/v1/admission/allow', { peer, ...(opts.region !== undefined ? { regions: opts.region } : {}) }, AbortSignal.timeout(120_000))
      if (opts.json === true) { printJson(r); return }
      print(`${peer} allowed${opts.region !== undefined ? ` in ${opts.region.join(', ')}` : ''} (committed at height ${r.height} in ${r.latencyMs} ms)\n`)
    })

  admission.command('revoke')
    .description('cut PEER off on every node for good: connections closed, membership revoked, its later writes refused (a BFT commit)')
    .argument('<peer>', 'peer id of the host', parsePeer)
    .option('--reason <text>', 'why, kept in the revocation and the audit log')
    .addOption(apiOption()).addOption(tokenFileOption())
    .option('--json', 'machine-readable output')
    .action(async (peer: string, opts: ApiFlags & { reason?: string, json?: boolean }) => {
      const r = await apiClient(opts).post<Commit>('/v1/admission/revoke', { peer, ...(opts.reason !== undefined ? { reason: opts.reason } : {}) }, AbortSignal.timeout(120_000))
      if (opts.json === true) { printJson(r); return }
      print(`${peer} revoked (committed at height ${r.height} in ${r.latencyMs} ms); every node closes its connections as the block arrives\n`)
    })

  admission.command('mode')
    .description('open (anyone with the genesis) or allowlist (validators, admins and allowed peers only)')
    .argument('<mode>', 'open or allowlist', parseMode)
    .option('--force', 'switch to an allowlist even though live members are not on it (they are cut off)')
    .addOption(apiOption()).addOption(tokenFileOption())
    .option('--json', 'machine-readable output')
    .action(async (mode: string, opts: ApiFlags & { force?: boolean, json?: boolean }) => {
      const r = await apiClient(opts).post<Commit>('/v1/admission/mode', { mode, ...(opts.force === true ? { force: true } : {}) }, AbortSignal.timeout(120_000))
      if (opts.json === true) { printJson(r); return }
      print(`admission mode ${mode} (committed at height ${r.height} in ${r.latencyMs} ms)\n`)
    })

  const token = admission.command('token').description('join tokens: admin-signed, verifiable offline by every node')
  token.command('create')
    .description('make a join token; a host joins with `mycel agent --genesis FILE --join-token TOKEN`')
    .option('--ttl <duration>', 'how long the token is valid (default 10m)', parseTtl, 600_000)
    .option('--uses <n>', 'how many hosts it admits, network-wide (default 1)', parseUses, 1)
    .option('--region <name>', 'the joiner may only be a member of this region, repeatable', collect)
    .addOption(apiOption()).addOption(tokenFileOption())
    .option('--json', 'machine-readable output')
    .action(async (opts: ApiFlags & { ttl: number, uses: number, region?: string[], json?: boolean }) => {
      const r = await apiClient(opts).post<{ token: string, id: string, expiresAt: string, uses: number }>('/v1/admission/tokens', { ttlMs: opts.ttl, uses: opts.uses, ...(opts.region !== undefined ? { regions: opts.region } : {}) })
      if (opts.json === true) { printJson(r); return }
      print(`${r.token}\n`)
      process.stderr.write(`token ${r.id}: admits ${r.uses} host${r.uses === 1 ? '' : 's'} until ${r.expiresAt}\n`)
    })
}
