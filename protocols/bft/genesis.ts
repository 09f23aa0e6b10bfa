/**
 * The genesis file: the one document every node of a network shares. It
 * names the network, its first validators and admins, initial critical
 * values and the network-wide protocol limits. Its hash identifies the
 * network: it is the `chain` field of every block and is inside every signed
 * vote, so nodes with different genesis files can never count each other's
 * votes, and peers compare it when they meet (protocols/admission).
 */
import { readFile } from 'node:fs/promises'
import { z } from 'zod'
import { encodeCbor } from '../../wire/codec.js'
import { publicKeyOf } from '../../wire/signing.js'
import { hex, sha256 } from './crypto.js'
import { ADMINS_KEY, DEFAULT_MAX_BLOCK_ENTRIES, DEFAULT_MAX_VALUE_BYTES, MAX_KEY_BYTES, MAX_VALIDATORS, VALIDATORS_KEY } from './constants.js'
import { InvalidGenesisError } from './errors.js'

export interface GenesisParams {
  /** Entries one block may hold. */
  maxBlockEntries: number
  /** Largest critical value, bytes of UTF-8. */
  maxValueBytes: number
}

export interface Genesis {
  v: 1
  networkId: string
  /** ISO-8601; informational, part of the hash so two networks created alike still differ. */
  createdAt: string
  validators: string[]
  admins: string[]
  /** Initial critical values, committed at height 0 without a certificate. */
  values: Record<string, string>
  params: GenesisParams
}

const peerIdString = z.string().min(1).max(128).refine(isEd25519PeerId, { message: 'not an Ed25519 peer id' })

const genesisSchema = z.object({
  v: z.literal(1),
  networkId: z.string().min(1).max(128).regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, . _ - only'),
  createdAt: z.string().min(1).max(64),
  validators: z.array(peerIdString).min(1).max(MAX_VALIDATORS),
  admins: z.array(peerIdString).min(1).max(MAX_VALIDATORS),
  values: z.record(z.string().min(1).max(MAX_KEY_BYTES), z.string()).default({}),
  params: z.object({
    maxBlockEntries: z.number().int().min(1).max(1024).default(DEFAULT_MAX_BLOCK_ENTRIES),
    maxValueBytes: z.number().int().min(1).max(1024 * 1024).default(DEFAULT_MAX_VALUE_BYTES)
  }).strict().default({ maxBlockEntries: DEFAULT_MAX_BLOCK_ENTRIES, maxValueBytes: DEFAULT_MAX_VALUE_BYTES })
}).strict()

export function isEd25519PeerId (s: string): boolean {
  try { publicKeyOf(s); return true } catch { return false }
}

/** Validate and normalise (sorted, deduplicated sets) a parsed genesis document. */
export function parseGenesis (raw: unknown): Genesis {
  const r = genesisSchema.safeParse(raw)
  if (!r.success) {
    const i = r.error.issues[0]
    throw new InvalidGenesisError(`invalid genesis: ${i?.path.join('.') ?? ''}: ${i?.message ?? ''}`)
  }
  const g = r.data
  for (const k of Object.keys(g.values)) {
    if (k === VALIDATORS_KEY || k === ADMINS_KEY) throw new InvalidGenesisError(`genesis value ${k} is reserved: use the validators/admins fields`)
    if (Buffer.byteLength(g.values[k]) > g.params.maxValueBytes) throw new InvalidGenesisError(`genesis value ${k} exceeds maxValueBytes`)
  }
  const sortedValues: Record<string, string> = {}
  for (const k of Object.keys(g.values).sort()) sortedValues[k] = g.values[k]
  return {
    v: 1,
    networkId: g.networkId,
    createdAt: g.createdAt,
    validators: [...new Set(g.validators)].sort(),
    admins: [...new Set(g.admins)].sort(),
    values: sortedValues,
    params: g.params
  }
}

/** sha256 over the deterministic CBOR of the normalised genesis. */
export function genesisHash (g: Genesis): Uint8Array { return sha256(encodeCbor(g)) }
export function genesisHashHex (g: Genesis): string { return hex(genesisHash(g)) }

export interface CreateGenesisOptions {
  networkId: string
  validators: string[]
  admins: string[]
  values?: Record<string, string>
  params?: Partial<GenesisParams>
  createdAt?: Date
}

export function createGenesis (o: CreateGenesisOptions): Genesis {
  return parseGenesis({
    v: 1,
    networkId: o.networkId,
    createdAt: (o.createdAt ?? new Date()).toISOString(),
    validators: o.validators,
    admins: o.admins,
    values: o.values ?? {},
    params: { maxBlockEntries: DEFAULT_MAX_BLOCK_ENTRIES, maxValueBytes: DEFAULT_MAX_VALUE_BYTES, ...o.params }
  })
}

export function genesisToJson (g: Genesis): string { return JSON.stringify(g, null, 2) + '\n' }

export async function loadGenesis (path: string): Promise<Genesis> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    throw new InvalidGenesisError(`cannot read genesis file ${path}: ${(err as Error).message}`)
  }
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch (err) {
    throw new InvalidGenesisError(`genesis file ${path} is not JSON: ${(err as Error).message}`)
  }
  return parseGenesis(raw)
}
