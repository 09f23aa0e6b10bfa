/**
 * Commit certificates. A certificate is a block plus precommit signatures of
 * one round from a quorum (⌊2n/3⌋+1) of the validator set in force at the
 * block's height. Any node can check it with `verifyCertificate` knowing only
 * the genesis hash and that validator set: whoever served it need not be
 * trusted.
 */
import { blockHash, bytesEqual, voteSignBytes, VOTE_DOMAIN, type Verifier } from './crypto.js'
import { InvalidCertificateError } from './errors.js'
import { PRECOMMIT, type Block, type Certificate, type Vote } from './types.js'
import type { ValidatorSet } from './validator-set.js'

export async function verifyCertificate (cert: Certificate, validators: ValidatorSet, chain: Uint8Array, verify: Verifier): Promise<void> {
  const b = cert.block
  if (!bytesEqual(b.chain, chain)) throw new InvalidCertificateError(`certificate for height ${b.height} belongs to another network`)
  if (!bytesEqual(b.validatorSetHash, validators.hash)) {
    throw new InvalidCertificateError(`certificate for height ${b.height} names a validator set other than the one in force`)
  }
  const hash = blockHash(b)
  const payload = voteSignBytes(chain, PRECOMMIT, b.height, cert.round, hash)
  const seen = new Set<string>()
  for (const p of cert.precommits) {
    if (seen.has(p.validator)) throw new InvalidCertificateError(`certificate for height ${b.height} counts ${p.validator} twice`)
    seen.add(p.validator)
    if (!validators.has(p.validator)) throw new InvalidCertificateError(`certificate for height ${b.height} is signed by non-validator ${p.validator}`)
    if (!await verify(p.validator, VOTE_DOMAIN, payload, p.signature)) {
      throw new InvalidCertificateError(`certificate for height ${b.height} has a bad signature from ${p.validator}`)
    }
  }
  if (seen.size < validators.quorum) {
    throw new InvalidCertificateError(`certificate for height ${b.height} has ${seen.size} precommits, needs ${validators.quorum}`)
  }
}

/** Assemble a certificate from verified precommits (all for `block`, one round). */
export function buildCertificate (block: Block, round: number, precommits: Iterable<Vote>): Certificate {
  const sigs = [...precommits]
    .map(v => ({ validator: v.validator, signature: v.signature }))
    .sort((a, b) => a.validator < b.validator ? -1 : a.validator > b.validator ? 1 : 0)
  return { v: 1, block, round, precommits: sigs }
}
