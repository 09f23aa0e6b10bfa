/**
 * daemon/host-sources.ts: which archives garbage collection keeps.
 */
import assert from 'node:assert/strict'
import pino from 'pino'
import { archiveCollector, archiveHints, MAX_ARCHIVE_HINTS } from '../../daemon/host-sources.js'

const rel = (name: string, version: string, cid: string): any => ({ name, version, publisher: 'p', archive: { cid, size: 1 }, publishedAt: '' })

describe('host sources', () => {
  it('GC keeps deployed versions, versions in use here, each component\'s 3 newest releases, and open rollouts\' versions; nothing when unknown', async () => {
    const kept: string[][] = []
    const blocks = { gc: async (keep: Iterable<string>) => { kept.push([...keep].sort()); return { deletedBlocks: 0, deletedBytes: 0, keptBlocks: 0, deletedRoots: 0 } } }
    const releases = [rel('web', '1.0.0', 'a1'), rel('web', '1.1.0', 'a2'), rel('web', '1.2.0', 'a3'), rel('web', '1.3.0', 'a4'), rel('web', '1.4.0', 'a5'),
      rel('db', '2.0.0', 'd2'), rel('db', '1.0.0', 'd1'), rel('db', '0.9.0', 'd0'), rel('db', '0.8.0', 'd8')]
    let deployments: Array<[string, { value: unknown }]> | undefined = [['web', { value: { name: 'web', version: '1.0.0' } }], ['bad', { value: { name: 'bad' } }]]
    let inUse: string[] | undefined = ['x9']
    const rollout = (id: string, to: string, control: string): [string, { value: unknown }] =>
      [id, { value: { id, component: 'db', from: '2.0.0', to, lastStable: '0.8.0', regions: ['eu'], maxParallel: { count: 1 }, createdAt: 1, control: { state: control, at: 1 } } }]
    let rollouts = [rollout('r1', '0.9.0', 'aborted')]
    const gc = archiveCollector({ artifacts: { blocks: blocks as any, list: () => releases }, deployments: () => deployments, rollouts: () => ({ rollouts, progress: [] }), inUse: () => inUse, logger: pino({ level: 'silent' }) })
    await gc()
    // a1 deployed, a3-a5 newest web, d2 d1 d0 newest db, x9 in use; a2 and d8 go (r1 is over).
    assert.deepEqual(kept.pop(), ['a1', 'a3', 'a4', 'a5', 'd0', 'd1', 'd2', 'x9'])
    // An open rollout keeps its versions: to, from and the one it returns to.
    rollouts = [rollout('r2', '1.0.0', 'paused')]
    await gc()
    assert.deepEqual(kept.pop(), ['a1', 'a3', 'a4', 'a5', 'd0', 'd1', 'd2', 'd8', 'x9'])
    deployments = undefined
    await gc()
    inUse = undefined
    deployments = []
    await gc()
    assert.equal(kept.length, 0, 'no collection while deployments or the host are unknown')
  })

  it('archive hints: nodes running the release (never this one), then its publisher, at most MAX_ARCHIVE_HINTS', () => {
    const report = (peerId: string, version: string, state = 'running'): any => ({ report: { peerId, components: [{ name: 'web', version, state }] } })
    let reports = [report('self', '2.0.0'), report('a', '2.0.0'), report('b', '1.0.0'), report('c', '2.0.0', 'failed'), report('d', '2.0.0')]
    const hints = archiveHints({
      self: 'self',
      releases: () => [rel('web', '1.0.0', 'c1'), rel('web', '2.0.0', 'c2')],
      releaseEntries: () => [['web@2.0.0#abc', { writer: 'pub' }], ['web@1.0.0#def', { writer: 'old' }], ['web@2.0.0#x', { writer: 'self' }]],
      reports: () => reports
    })
    assert.deepEqual(hints('c2').sort(), ['a', 'd', 'pub'])
    assert.deepEqual(hints('c1').sort(), ['b', 'old'])
    assert.deepEqual(hints('unknown'), [])
    reports = Array.from({ length: 20 }, (_, i) => report(`p${i}`, '2.0.0'))
    const many = hints('c2')
    assert.equal(many.length, MAX_ARCHIVE_HINTS)
    assert.ok(many.includes('pub'), 'the publisher is kept among many runners')
  })
})
