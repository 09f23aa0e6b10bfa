/**
 * protocols/admission/rules.ts: the policy's verdict on a peer whose genesis
 * matched, over every combination of standing and claims (property): a
 * revoked peer is refused whatever it claims; a newer claim is heard before
 * anything else is judged; a token is only tried for a peer the policy does
 * not admit.
 */
import { strict as assert } from 'node:assert'
import fc from 'fast-check'
import { policyVerdict, type AdmissionRules } from '../../../protocols/admission/rules.js'
import type { PeerStanding } from '../../../lib/peer-policy.js'

function rules (standing: PeerStanding, height: number, joinRefusal: boolean, joins: string[]): AdmissionRules {
  return {
    policy: { standing: () => standing, cutoff: () => undefined, explain: () => `is ${standing}`, height: () => height, onChange: () => () => {} },
    join: async (peer) => { joins.push(peer); return joinRefusal ? { reason: 'token_used', detail: 'used' } : undefined },
    catchUp: async () => {}
  }
}

describe('admission policy verdict', () => {
  it('refuses revoked peers whatever they claim, hears newer claims first, waits while others catch up, tries tokens only for outsiders (property)', async () => {
    await fc.assert(fc.asyncProperty(
      fc.constantFrom<PeerStanding>('admitted', 'not-allowed', 'revoked'),
      fc.nat(5), fc.nat(5), fc.boolean(), fc.boolean(), fc.boolean(), fc.boolean(),
      async (standing, ours, theirs, caughtUp, others, withJoin, joinRefused) => {
        const joins: string[] = []
        const v = await policyVerdict(rules(standing, ours, joinRefused, joins), 'P', {
          height: theirs, caughtUp, othersCatchingUp: others, ...(withJoin ? { join: new Uint8Array([1]) } : {})
        })
        let expected: string
        if (standing === 'revoked') expected = 'refuse:revoked'
        else if (theirs > ours && !caughtUp) expected = 'limit:catching-up'
        else if (others) expected = 'wait'
        else if (standing === 'admitted') expected = 'admit'
        else if (withJoin) expected = joinRefused ? 'refuse:token_used' : 'limit:joining'
        else expected = 'refuse:not_allowed'
        const got = v.kind === 'refuse' ? `refuse:${v.refusal.reason}` : v.kind === 'limit' ? `limit:${v.why}` : v.kind
        assert.equal(got, expected)
        assert.equal(joins.length, expected === 'refuse:token_used' || expected === 'limit:joining' ? 1 : 0)
      }), { numRuns: 300 })
  })
})
