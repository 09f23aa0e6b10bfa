/** The publish body (daemon/api/release-body.ts): a round trip for any sizes, and a length prefix that does not fit is a 400. */
import { expect } from 'chai'
import fc from 'fast-check'
import { decodeRelease, encodeRelease } from '../../daemon/api/release-body.js'
import { MAX_SIGNED_MANIFEST_BYTES } from '../../protocols/artifacts/constants.js'

describe('release body', () => {
  it('round-trips any manifest and archive bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 1, maxLength: 300 }), fc.uint8Array({ maxLength: 3000 }), (signed, archive) => {
      const r = decodeRelease(encodeRelease(signed, archive))
      expect(Buffer.from(r.signed).equals(Buffer.from(signed))).to.equal(true)
      expect(Buffer.from(r.archive).equals(Buffer.from(archive))).to.equal(true)
    }))
  })

  it('refuses a prefix that is zero, too large, or past the body, with 400', () => {
    const bodies = [
      Buffer.from([0, 0]),
      Buffer.from([0, 0, 0, 0, 1, 2]),
      Buffer.concat([Buffer.from([0, 0, 0, 9]), Buffer.alloc(8)]),
      (() => { const b = Buffer.alloc(8); b.writeUInt32BE(MAX_SIGNED_MANIFEST_BYTES + 1024, 0); return b })()
    ]
    for (const b of bodies) expect(() => decodeRelease(b)).to.throw().with.property('status', 400)
  })
})
