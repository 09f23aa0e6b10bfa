/** How mycel shows bytes in logs, API answers and map keys. */

/** Lower-case hex of `b` (hashes, genesis ids, block keys). */
export function hex (b: Uint8Array): string { return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex') }
