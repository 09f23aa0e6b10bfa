/**
 * wire/gossip-origin.ts: a refused origin's messages are ignored by every
 * topic validator, also those registered after the guard and when an
 * admitted peer relays them; everything else reaches the validator.
 */
import { strict as assert } from 'node:assert'
import { TopicValidatorResult, type Message, type TopicValidatorFn } from '@libp2p/gossipsub'
import { peerIdFromString } from '@libp2p/peer-id'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { guardGossipOrigins } from '../../wire/gossip-origin.js'

describe('gossip origin guard', () => {
  it('ignores messages whose signed origin is refused, whoever relays them; others reach the validator', async () => {
    const [bad, good, relay] = await Promise.all([0, 1, 2].map(async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519'))))
    const host = { topicValidators: new Map<string, TopicValidatorFn>() }
    const seen: string[] = []
    host.topicValidators.set('early', async (_p, m) => { seen.push(`early:${(m as { from: { toString: () => string } }).from.toString()}`); return TopicValidatorResult.Accept })
    const dropped: string[] = []
    const off = guardGossipOrigins(host, (o) => o === bad.toString(), (topic, origin) => { dropped.push(`${topic}:${origin}`) })
    host.topicValidators.set('late', async () => { seen.push('late'); return TopicValidatorResult.Accept })
    const msg = (from: typeof bad, topic: string): Message => ({ type: 'signed', from, topic, data: new Uint8Array(), sequenceNumber: 1n, signature: new Uint8Array(), key: from.publicKey } as unknown as Message)
    const run = async (topic: string, from: typeof bad): Promise<TopicValidatorResult> => await (host.topicValidators.get(topic) as TopicValidatorFn)(relay, msg(from, topic))
    assert.equal(await run('early', bad), TopicValidatorResult.Ignore)
    assert.equal(await run('late', bad), TopicValidatorResult.Ignore)
    assert.equal(await run('early', good), TopicValidatorResult.Accept)
    assert.equal(await run('late', good), TopicValidatorResult.Accept)
    assert.deepEqual(seen, [`early:${good.toString()}`, 'late'])
    assert.deepEqual(dropped, [`early:${bad.toString()}`, `late:${bad.toString()}`])
    // Deleting goes through; uninstalling restores plain validators.
    host.topicValidators.delete('late')
    assert.equal(host.topicValidators.has('late'), false)
    off()
    assert.equal(await run('early', bad), TopicValidatorResult.Accept)
    assert.equal(peerIdFromString(good.toString()).toString(), good.toString())
  })
})
