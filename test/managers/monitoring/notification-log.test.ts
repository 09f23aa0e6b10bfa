import { strict as assert } from 'node:assert'
import { nflogKey } from '../../../managers/monitoring/records.js'
import fc from 'fast-check'
import {
  decide, DEFAULT_REPEAT_INTERVAL_MS, expiredEntries, idempotencyKey, notificationEntrySchema, recordSent, targetId,
  type AlertNotice, type Decision, type NotificationEntry
} from '../../../managers/monitoring/notification-log.js'

const H = 3600_000
const firing = (startsAt: number): AlertNotice => ({ fingerprint: 'f1', status: 'firing', startsAt })
const resolved = (startsAt: number): AlertNotice => ({ fingerprint: 'f1', status: 'resolved', startsAt })

describe('managers/monitoring/notification-log', () => {
  it('decides send or skip per (entry, alert, now)', () => {
    const table: Array<[string, NotificationEntry | undefined, AlertNotice, number, Decision]> = [
      ['new firing alert', undefined, firing(100), 200, 'send'],
      ['firing, told 1 h ago', { status: 'firing', startsAt: 100, sentAt: 200 }, firing(100), 200 + H, 'skip'],
      ['firing, told 4 h ago: repeat', { status: 'firing', startsAt: 100, sentAt: 200 }, firing(100), 200 + 4 * H, 'send'],
      ['resolved, firing was told', { status: 'firing', startsAt: 100, sentAt: 200 }, resolved(100), 300, 'send'],
      ['resolve already told', { status: 'resolved', startsAt: 100, sentAt: 300 }, resolved(100), 10 * H, 'skip'],
      ['resolved, never told it fired', undefined, resolved(100), 300, 'skip'],
      ['a new episode fires', { status: 'resolved', startsAt: 100, sentAt: 300 }, firing(500), 600, 'send'],
      ['a new episode fires while the old one is logged firing', { status: 'firing', startsAt: 100, sentAt: 300 }, firing(500), 600, 'send'],
      ['a new episode resolved, never told', { status: 'firing', startsAt: 100, sentAt: 300 }, resolved(500), 600, 'skip']
    ]
    for (const [name, entry, alert, now, want] of table) assert.equal(decide(entry, alert, now), want, name)
    assert.equal(DEFAULT_REPEAT_INTERVAL_MS, 4 * H)
    assert.equal(decide({ status: 'firing', startsAt: 1, sentAt: 1 }, firing(1), 61, 60), 'send', 'repeat interval is a parameter')
  })

  it('a holder change: the next holder sends nothing the log has, and the resolve it owes (property)', () => {
    // Any sequence of firing/resolved observations of one episode: with the log carried over, each status reaches the target once.
    fc.assert(fc.property(fc.array(fc.boolean(), { minLength: 1, maxLength: 20 }), fc.nat(20), (obs, handover) => {
      let entry: NotificationEntry | undefined
      const sent: string[] = []
      let resolvedOnce = false
      obs.forEach((isFiring, i) => {
        if (resolvedOnce) return // resolved is final for an episode
        const alert = isFiring ? firing(1) : resolved(1)
        if (!isFiring) resolvedOnce = true
        // The log entry survives the handover at step `handover` (it is replicated); nothing else does.
        if (i === handover) entry = entry === undefined ? undefined : notificationEntrySchema.parse(JSON.parse(JSON.stringify(entry)))
        if (decide(entry, alert, 10 + i) === 'send') {
          sent.push(alert.status)
          entry = recordSent(alert, 10 + i)
        }
      })
      const firstResolve = obs.indexOf(false)
      const firedBefore = firstResolve === -1 ? obs.length > 0 : firstResolve > 0
      assert.deepEqual(sent, [...(firedBefore ? ['firing'] : []), ...(firedBefore && firstResolve !== -1 ? ['resolved'] : [])])
    }))
  })

  it('keys, retention and the schema', () => {
    // The log key as records.ts stores it: a target's URL is a short id in it (no credentials, no long keys).
    assert.match(nflogKey('eu', targetId('http://am:9093'), 'cbf29ce484222325'), /^nflog\/eu\/[0-9a-f]{16}\/cbf29ce484222325$/)
    assert.notEqual(targetId('http://a'), targetId('http://b'))
    const log: Array<[string, NotificationEntry]> = [['b', { status: 'firing', startsAt: 0, sentAt: 0 }], ['a', { status: 'resolved', startsAt: 0, sentAt: 100 }]]
    assert.deepEqual(expiredEntries(log, 150, 100), ['b'])
    assert.deepEqual(expiredEntries(log, 201, 100), ['a', 'b'])
    assert.ok(!notificationEntrySchema.safeParse({ status: 'pending', startsAt: 0, sentAt: 0 }).success)
    assert.ok(!notificationEntrySchema.safeParse({ status: 'firing', startsAt: 0, sentAt: 0, x: 1 }).success)
  })

  it('idempotency key: stable over alert order, changes with status, startsAt or group', () => {
    const a: AlertNotice = { fingerprint: 'aa', status: 'firing', startsAt: 1 }
    const b: AlertNotice = { fingerprint: 'bb', status: 'firing', startsAt: 2 }
    const k = idempotencyKey('g', [a, b])
    assert.match(k, /^[0-9a-f]{64}$/)
    assert.equal(idempotencyKey('g', [b, a]), k)
    assert.notEqual(idempotencyKey('g', [a, { ...b, status: 'resolved' }]), k)
    assert.notEqual(idempotencyKey('g', [a, { ...b, startsAt: 3 }]), k)
    assert.notEqual(idempotencyKey('h', [a, b]), k)
  })
})
