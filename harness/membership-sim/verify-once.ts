/**
 * Signature checks for the simulator: each distinct signed update is
 * verified for real (Ed25519, messages.ts `verifyUpdate`) the first time any
 * node checks it; later checks of the same bytes by other nodes reuse that
 * verdict. In a real cluster every node verifies every record it accepts;
 * at 1,000 nodes that is a million Ed25519 verifications of the same ~1,000
 * records (about 0.3 ms each here: minutes of CPU that say nothing about the
 * protocol). What is saved is only the repetition: a record whose bytes or
 * signature differ from the one verified is verified again, so a forged or
 * altered update is still refused.
 */
import { equals } from 'uint8arrays/equals'
import { verifyUpdate, type SignedUpdate, type UpdateBody } from '../../protocols/membership/messages.js'

export interface VerifyOnce {
  verify: (body: UpdateBody, raw: SignedUpdate) => Promise<void>
  /** Real Ed25519 verifications done, and checks answered from an earlier one. */
  readonly counts: { verified: number, reused: number }
}

export function verifyOnce (): VerifyOnce {
  /** Signature (hex) → the body bytes it was verified over. */
  const verified = new Map<string, Uint8Array>()
  const counts = { verified: 0, reused: 0 }
  return {
    counts,
    verify: async (body, raw) => {
      const key = Buffer.from(raw.s.buffer, raw.s.byteOffset, raw.s.byteLength).toString('hex')
      const b = verified.get(key)
      if (b !== undefined && equals(b, raw.b)) { counts.reused++; return }
      await verifyUpdate(body, raw)
      counts.verified++
      verified.set(key, raw.b.slice())
    }
  }
}
