/**
 * daemon/host-sources.ts: which archives garbage collection keeps.
 */
import assert from 'node:assert/strict'
import pino from 'pino'
import { archiveCollector } from '../../daemon/host-sources.js'

const rel = (name: string, version: string, cid: string): any => ({ name, version, publisher: 'p', archive: { cid, size: 1 }, publishedAt: '' })

describe('host sources', () => {
  it('GC keeps deployed versions, versions in use here, and each component\'s newest release; nothing when unknown', async () => {
    const kept: string[][] = []
    const blocks = { gc: async (keep: Iterable<string>) => { kept.push([...keep].sort()); return { deletedBlocks: 0, deletedBytes: 0, keptBlocks: 0, deletedRoots: 0 } } }
    const releases = [rel('web', '1.0.0', 'a1'), rel('web', '1.1.0', 'a2'), rel('web', '1.2.0', 'a3'), rel('db', '2.0.0', 'd2'), rel('db', '1.0.0', 'd1')]
    let deployments: Array<[string, { value: unknown }]> | undefined = [['web', { value: { name: 'web', version: '1.0.0' } }], ['bad', { value: { name: 'bad' } }]]
    let inUse: string[] | undefined = ['x9']
    const gc = archiveCollector({ artifacts: { blocks: blocks as any, list: () => releases }, deployments: () => deployments, inUse: () => inUse, logger: pino({ level: 'silent' }) })
    await gc()
    // a1 deployed, a3 newest web, d2 newest db, x9 in use; a2 and d1 go.
    assert.deepEqual(kept.pop(), ['a1', 'a3', 'd2', 'x9'])
    deployments = undefined
    await gc()
    inUse = undefined
    deployments = []
    await gc()
    assert.equal(kept.length, 0, 'no collection while deployments or the host are unknown')
  })
})
