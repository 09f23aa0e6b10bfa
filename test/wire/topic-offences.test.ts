import { strict as assert } from 'node:assert'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PeerId } from '@libp2p/interface'
import { TopicValidatorResult, type Message, type TopicValidatorFn } from '@libp2p/gossipsub'
import { Registry } from 'prom-client'
import pino from 'pino'
import { VerifiedTopic, type PubSubHost } from '../../wire/topic.js'
import { InvalidSignatureError, MalformedMessageError } from '../../wire/errors.js'
import { attachOffences, PeerOffences } from '../../lib/peer-offences.js'
import { ConfigGossip } from '../../protocols/config-sync/gossip.js'
import { CONFIG_TOPIC } from '../../protocols/config-sync/constants.js'
import type { IngestResult } from '../../crdt/replica.js'

const logger = pino({ level: 'silent' })

function fakePubSub (): PubSubHost & { validators: Map<string, TopicValidatorFn> } {
  const validators = new Map<string, TopicValidatorFn>()
  return {
    validators,
    topicValidators: validators,
    subscribe: () => {},
    unsubscribe: () => {},
    publish: async () => ({ recipients: [] }),
    addEventListener: () => {},
    removeEventListener: () => {}
  }
}

async function peer (): Promise<PeerId> { return peerIdFromPrivateKey(await generateKeyPair('Ed25519')) }

function signed (from: PeerId, topic: string): Message {
  return { type: 'signed', from, topic, data: new Uint8Array([1]), sequenceNumber: 1n, signature: new Uint8Array(0), key: from.publicKey as never }
}

function counters (): { registry: Registry, offences: PeerOffences } {
  const registry = new Registry()
  const offences = new PeerOffences({ maxPeers: 16, windowMs: 60_000 }, registry)
  attachOffences(registry, offences)
  return { registry, offences }
}

describe('gossip rejections count as offences of the peer that answers for them', () => {
  it('a verified topic counts a rejected message against its author: bad_signature or rejected_envelope; ignored ones cost nothing', async () => {
    const { registry, offences } = counters()
    const pubsub = fakePubSub()
    let fail: Error | undefined
    const topic = new VerifiedTopic<number>({
      pubsub, topic: 't', metricTopic: 't', registry, logger,
      decode: async () => { if (fail !== undefined) throw fail; return undefined },
      onMessage: () => {}
    })
    topic.start()
    const validate = pubsub.validators.get('t') as TopicValidatorFn
    const author = await peer()
    const forwarder = await peer()
    assert.equal(await validate(forwarder, signed(author, 't')), TopicValidatorResult.Ignore)
    fail = new InvalidSignatureError('bad')
    assert.equal(await validate(forwarder, signed(author, 't')), TopicValidatorResult.Reject)
    fail = new MalformedMessageError('bad')
    await validate(forwarder, signed(author, 't'))
    assert.deepEqual(offences.get(author.toString())?.kinds, { bad_signature: 1, rejected_envelope: 1 })
    // Unsigned: nobody signed it, so the forwarder answers for it.
    await validate(forwarder, { type: 'unsigned', topic: 't', data: new Uint8Array(0) })
    assert.deepEqual(offences.get(forwarder.toString())?.kinds, { rejected_envelope: 1 })
    topic.stop()
  })

  it('config gossip counts punishable rejections only (not an equivocation an honest relay may forward)', async () => {
    const { registry, offences } = counters()
    const pubsub = fakePubSub()
    let result: IngestResult = { result: 'rejected', reason: 'access_denied' }
    const gossip = new ConfigGossip({ pubsub, logger, registry, ingest: async () => result, onGap: () => {} })
    gossip.start()
    const validate = pubsub.validators.get(CONFIG_TOPIC) as TopicValidatorFn
    const author = await peer()
    assert.equal(await validate(author, signed(author, CONFIG_TOPIC)), TopicValidatorResult.Reject)
    result = { result: 'rejected', reason: 'bad_signature' }
    await validate(author, signed(author, CONFIG_TOPIC))
    result = { result: 'rejected', reason: 'equivocation' }
    assert.equal(await validate(author, signed(author, CONFIG_TOPIC)), TopicValidatorResult.Ignore)
    assert.deepEqual(offences.get(author.toString())?.kinds, { rejected_envelope: 1, bad_signature: 1 })
    gossip.stop()
  })
})
