/**
 * A genesis for benchmark agents (every capability on: critical config, the
 * admission policy and the security monitor run only with one). Validators'
 * identities are made up front, since the genesis names them; the first
 * validator is also the admin.
 */
import { join } from 'node:path'
import { createIdentity } from '../../daemon/identity.js'
import { writeFileDurable } from '../../lib/durable-file.js'
import { createGenesis, genesisToJson } from '../../protocols/bft/genesis.js'

export interface BenchGenesis {
  /** The genesis file to give every agent (`--genesis`). */
  file: string
  /** Data dirs holding the validators' identities, in validator order. */
  validatorDirs: string[]
}

/** Write `<root>/genesis.json` naming `validators` new identities in `dirOf(i)`. */
export async function writeBenchGenesis (root: string, validators: number, dirOf: (i: number) => string, networkId = 'bench'): Promise<BenchGenesis> {
  const validatorDirs = Array.from({ length: validators }, (_, i) => dirOf(i))
  const ids: string[] = []
  for (const d of validatorDirs) ids.push((await createIdentity(d)).peerId)
  const file = join(root, 'genesis.json')
  await writeFileDurable(file, genesisToJson(createGenesis({ networkId, validators: ids, admins: [ids[0]] })), 0o644)
  return { file, validatorDirs }
}
