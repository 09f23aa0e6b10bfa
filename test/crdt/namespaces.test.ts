/** The `namespaces:` section of the agent config: writer ACL entries must be peer ids (issue 11, item 13). */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { peerIdFromString } from '@libp2p/peer-id'
import { namespacesSectionSchema } from '../../crdt/namespaces.js'
import { readConfigFile } from '../../daemon/config.js'
import { identity } from './fixtures.js'

describe('namespaces section', () => {
  it('accepts peer ids and open', async () => {
    const id = await identity(1)
    const parsed = namespacesSectionSchema.parse({ '*': { writers: 'open' }, secure: { writers: [id.peerId] } })
    assert.deepEqual(parsed.secure.writers, [id.peerId])
  })

  it('refuses an ACL writer that is not a peer id at config load, naming the key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mycel-ns-'))
    try {
      const file = join(dir, 'agent.yaml')
      const id = await identity(1)
      writeFileSync(file, `namespaces:\n  secure:\n    writers: [${id.peerId}, 12D3KooWNotAPeerId]\n`)
      await assert.rejects(readConfigFile(file), {
        name: 'ConfigError',
        message: /"namespaces\.secure\.writers\.1": "12D3KooWNotAPeerId" is not a peer id/
      })
      // The same key in another encoding would never match an envelope's writer: say how to write it.
      const cid = peerIdFromString(id.peerId).toCID().toString()
      writeFileSync(file, `namespaces:\n  secure:\n    writers: [${cid}]\n`)
      await assert.rejects(readConfigFile(file), { name: 'ConfigError', message: new RegExp(`is a peer id in another form; write it as ${id.peerId}`) })
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
