/**
 * `mycel identity rotate [--grace 10m]`: give this node a new key
 * (docs/security.md "Rotate a node key"). The agent makes the key, its old
 * key signs the hand-over `admission/allow/<new>` (a BFT commit), then it
 * swaps the key files and restarts under the new id; the old id is revoked
 * everywhere when the grace ends.
 */
import { InvalidArgumentError, type Command } from 'commander'
import { apiClient, type ApiFlags } from './client.js'
import { apiOption, tokenFileOption } from './options.js'
import { print, printJson } from './output.js'
import { MAX_GRACE_MS } from '../../policy/admission-values.js'

interface RotateReply { old: string, new: string, height: number, graceUntil: string, restarting: boolean }

/** How long the CLI waits for the agent's answer beyond the commit wait, ms (the agent bounds the commit by MAX_ENTRY_TTL_MS). */
const ROTATE_REPLY_WAIT_MS = 11 * 60_000

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3600_000 }

/** `90s`, `10m`, `1h` (or plain milliseconds) → ms, at most MAX_GRACE_MS. */
export function parseGrace (v: string): number {
  const m = /^(\d+)(ms|s|m|h)?$/.exec(v.trim())
  if (m === null) throw new InvalidArgumentError('expected a duration such as 90s, 10m or 1h')
  const ms = Number(m[1]) * UNIT_MS[m[2] ?? 'ms']
  if (!Number.isSafeInteger(ms) || ms > MAX_GRACE_MS) throw new InvalidArgumentError(`at most ${MAX_GRACE_MS / 3600_000}h`)
  return ms
}

export function registerIdentityCommands (program: Command): void {
  const identity = program.command('identity').description('this node\'s key')

  identity.command('rotate')
    .description('make a new node key, hand this node\'s admission over to it (a BFT commit) and restart the agent under it')
    .option('--grace <duration>', 'how long the old id stays admitted beside the new one, e.g. 10m (default 10m, at most 24h)', parseGrace)
    .addOption(apiOption()).addOption(tokenFileOption())
    .option('--json', 'machine-readable output')
    .action(async (opts: ApiFlags & { grace?: number, json?: boolean }) => {
      const r = await apiClient(opts).post<RotateReply>('/v1/identity/rotate', opts.grace !== undefined ? { graceMs: opts.grace } : {}, AbortSignal.timeout(ROTATE_REPLY_WAIT_MS))
      if (opts.json === true) { printJson(r); return }
      print(`${r.old} handed over to ${r.new} at height ${r.height}; the old id is revoked at ${r.graceUntil}\n`)
      print(r.restarting ? 'the agent restarts under the new id now\n' : 'restart the agent to run under the new id\n')
    })
}
