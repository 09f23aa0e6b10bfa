/**
 * An archive as blocks: fixed-size chunks, each named by a CIDv1 (raw,
 * sha2-256) of its bytes, and one index block listing them in order, named by
 * its own CID (codec `cbor`). Bitswap's model (blocks addressed by their hash,
 * every block verified on arrival), so a peer can serve any chunk it holds and
 * a fetcher trusts no peer's bytes, only their hashes.
 *
 * The index is not covered by the manifest's signature (the manifest names
 * the archive's sha256, which is not a tree hash): a lying index is caught when
 * the reassembled archive's sha256 is checked against the archive CID
 * (readArchive), and the fetcher then drops it.
 */
import { createHash } from 'node:crypto'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { create as createDigest } from 'multiformats/hashes/digest'
import { sha256 } from 'multiformats/hashes/sha2'
import { z } from 'zod'
import { bytes, decodeCbor, encodeCbor } from '../../wire/codec.js'
import { MAX_ARCHIVE_BYTES, MAX_CHUNK_BYTES, MAX_INDEX_BYTES, MIN_CHUNK_BYTES } from './constants.js'
import { ArchiveMismatchError, BlockMissingError, InvalidIndexError } from './errors.js'
import { archiveCid, isArchiveCid } from './signed-manifest.js'

/** Multicodec `cbor`: plain CBOR, no IPLD links (the index holds CIDs as byte strings). */
export const CBOR_CODEC = 0x51

/** Length of a CIDv1 with a sha2-256 multihash, bytes (version, codec, hash code, length, 32-byte digest). */
const SHA256_CID_BYTES = 36

function digestOf (data: Uint8Array): Uint8Array {
  return createHash('sha256').update(data).digest()
}

/** The CID of a block: CIDv1, sha2-256, `raw` (a chunk) or `cbor` (an index). */
export function blockCid (data: Uint8Array, codec: number = raw.code): CID {
  return CID.create(1, codec, createDigest(sha256.code, digestOf(data)))
}

/** Whether `data` is the block `cid` names (its sha256 is the CID's digest). */
export function verifyBlock (cid: CID, data: Uint8Array): boolean {
  return cid.multihash.code === sha256.code && Buffer.from(digestOf(data)).equals(cid.multihash.digest)
}

/** A block CID from the wire or disk: CIDv1, raw or cbor, sha2-256; anything else is undefined. */
export function parseBlockCid (input: Uint8Array | string): CID | undefined {
  try {
    const cid = typeof input === 'string' ? CID.parse(input) : CID.decode(input)
    const ok = cid.version === 1 && (cid.code === raw.code || cid.code === CBOR_CODEC) &&
      cid.multihash.code === sha256.code && cid.multihash.digest.byteLength === 32
    return ok ? cid as CID : undefined
  } catch {
    return undefined
  }
}

/** What the index block says. */
export interface ArchiveIndex {
  /** The archive's CID (raw, sha2-256 of the whole archive), as the manifest names it. */
  archive: string
  /** Archive size, bytes. */
  size: number
  /** Size of every chunk but the last, bytes. */
  chunkSize: number
  /** The chunks in archive order. */
  chunks: CID[]
}

const indexSchema = z.object({
  v: z.literal(1),
  archive: z.string().max(128).refine(isArchiveCid, { message: 'expected a CIDv1 (raw, sha2-256) in base32' }),
  size: z.number().int().nonnegative().max(MAX_ARCHIVE_BYTES),
  chunkSize: z.number().int().min(MIN_CHUNK_BYTES).max(MAX_CHUNK_BYTES),
  chunks: z.array(bytes(SHA256_CID_BYTES))
})

/** Chunks an archive of `size` bytes has. */
export function chunkCount (size: number, chunkSize: number): number {
  return Math.ceil(size / chunkSize)
}

export function encodeIndex (index: ArchiveIndex): Uint8Array {
  return encodeCbor({ v: 1, archive: index.archive, size: index.size, chunkSize: index.chunkSize, chunks: index.chunks.map(c => c.bytes) })
}

/** Decode an index block from untrusted bytes; InvalidIndexError for anything malformed or inconsistent. */
export function decodeIndex (data: Uint8Array): ArchiveIndex {
  let msg: z.infer<typeof indexSchema>
  try {
    msg = decodeCbor(data, indexSchema, MAX_INDEX_BYTES)
  } catch (err) {
    throw new InvalidIndexError(`archive index: ${(err as Error).message}`, { cause: err })
  }
  if (msg.chunks.length !== chunkCount(msg.size, msg.chunkSize)) {
    throw new InvalidIndexError(`archive index: ${msg.chunks.length} chunks for ${msg.size} bytes in chunks of ${msg.chunkSize}`)
  }
  const chunks = msg.chunks.map(b => {
    const cid = parseBlockCid(b)
    if (cid?.code !== raw.code) throw new InvalidIndexError('archive index: a chunk CID that is not CIDv1 raw sha2-256')
    return cid
  })
  return { archive: msg.archive, size: msg.size, chunkSize: msg.chunkSize, chunks }
}

/** Bytes of chunk `i` of an index (every chunk is chunkSize but the last). */
export function chunkLength (index: ArchiveIndex, i: number): number {
  return Math.min(index.chunkSize, index.size - i * index.chunkSize)
}

/** Re-cut a stream into chunks of exactly `chunkSize` bytes (the last may be shorter; none for an empty stream). */
export async function * rechunk (source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, chunkSize: number): AsyncGenerator<Uint8Array> {
  let buf = Buffer.allocUnsafe(chunkSize)
  let filled = 0
  for await (const piece of source) {
    let at = 0
    while (at < piece.byteLength) {
      const n = Math.min(chunkSize - filled, piece.byteLength - at)
      buf.set(piece.subarray(at, at + n), filled)
      filled += n
      at += n
      if (filled === chunkSize) {
        yield buf
        buf = Buffer.allocUnsafe(chunkSize)
        filled = 0
      }
    }
  }
  if (filled > 0) yield buf.subarray(0, filled)
}

/** An archive cut into blocks: its index, the index block and its CID. */
export interface SplitArchive {
  index: ArchiveIndex
  indexBlock: Uint8Array
  root: CID
}

/**
 * Cut an archive (bytes, or a stream of them) into chunks, handing each to
 * `onChunk` as it is cut (the store writes it, so no archive is held whole),
 * and build its index.
 */
export async function splitArchive (source: Uint8Array | AsyncIterable<Uint8Array>, chunkSize: number,
  onChunk: (cid: CID, data: Uint8Array) => Promise<void>): Promise<SplitArchive> {
  if (!Number.isInteger(chunkSize) || chunkSize < MIN_CHUNK_BYTES || chunkSize > MAX_CHUNK_BYTES) {
    throw new RangeError(`chunk size ${chunkSize}: expected an integer in [${MIN_CHUNK_BYTES}, ${MAX_CHUNK_BYTES}]`)
  }
  const whole = createHash('sha256')
  const chunks: CID[] = []
  let size = 0
  for await (const chunk of rechunk(source instanceof Uint8Array ? [source] : source, chunkSize)) {
    whole.update(chunk)
    size += chunk.byteLength
    const cid = blockCid(chunk)
    await onChunk(cid, chunk)
    chunks.push(cid)
  }
  const index: ArchiveIndex = { archive: archiveCid(whole.digest()), size, chunkSize, chunks }
  const indexBlock = encodeIndex(index)
  return { index, indexBlock, root: blockCid(indexBlock, CBOR_CODEC) }
}

/**
 * The archive's bytes, chunk by chunk, from `get` (the store: it re-hashes
 * every block it reads). Checks every chunk's length, and at the end the
 * archive's size and sha256 against the index: ArchiveMismatchError if they
 * differ (the index lied), BlockMissingError if a chunk is not there. A
 * consumer (unpackArchive) sees the failure as its source failing.
 */
export async function * readArchive (get: (cid: CID) => Promise<Uint8Array | undefined>, index: ArchiveIndex): AsyncGenerator<Uint8Array> {
  const whole = createHash('sha256')
  for (let i = 0; i < index.chunks.length; i++) {
    const data = await get(index.chunks[i])
    if (data === undefined) throw new BlockMissingError(`chunk ${i} (${index.chunks[i].toString()}) of ${index.archive} is not in the store`)
    if (data.byteLength !== chunkLength(index, i)) {
      throw new ArchiveMismatchError(`chunk ${i} of ${index.archive} has ${data.byteLength} bytes, the index says ${chunkLength(index, i)}`)
    }
    whole.update(data)
    yield data
  }
  const actual = archiveCid(whole.digest())
  if (actual !== index.archive) throw new ArchiveMismatchError(`chunks reassemble to ${actual}, not ${index.archive}`)
}
