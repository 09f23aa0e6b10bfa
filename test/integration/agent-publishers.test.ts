/**
 * GET /v1/components/publishers on an in-process agent: without a genesis
 * the agent config's publishers are the trusted ones; with a genesis the
 * committed `publishers` key (here from the genesis values) decides and the
 * config's list is ignored.
 */
import { strict as assert } from 'node:assert'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { Agent } from '../../daemon/agent.js'
import { defaults, resolveConfig } from '../../daemon/config.js'
import { createGenesis, genesisToJson } from '../../protocols/bft/genesis.js'
import { loadOrCreateIdentity } from '../../daemon/identity.js'

const idOf = async (seed: number): Promise<string> => peerIdFromPrivateKey(await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(seed))).toString()

describe('agent: trusted publishers (in process)', function () {
  this.timeout(60_000)
  const dirs: string[] = []
  const agents: Agent[] = []
  after(async () => {
    for (const a of agents) await a.stop({ leave: false })
    for (const d of dirs) await rm(d, { recursive: true, force: true })
  })

  async function start (extra: Record<string, unknown>, prepare?: (dir: string) => Promise<Record<string, unknown>>): Promise<any> {
    const dir = await mkdtemp(join(tmpdir(), 'mycel-publishers-'))
    dirs.push(dir)
    const more = prepare !== undefined ? await prepare(dir) : {}
    const agent = new Agent(resolveConfig(defaults(), { dataDir: dir, listen: ['/ip4/127.0.0.1/tcp/0'], api: '127.0.0.1:0', profile: 'test', bootstrap: [], ...extra, ...more }), pino({ level: 'silent' }))
    agents.push(agent)
    const status = await agent.start()
    const res = await fetch(`http://${status.api}/v1/components/publishers`)
    assert.equal(res.status, 200)
    return await res.json()
  }

  it('without a genesis: the config list', async () => {
    const [a, b] = [await idOf(61), await idOf(62)]
    assert.deepEqual(await start({ publishers: [b, a, b] }), { source: 'config', publishers: [a, b].sort() })
  })

  it('with a genesis: the committed key, not the config list', async () => {
    const [a, b] = [await idOf(63), await idOf(64)]
    const body = await start({ publishers: [a] }, async (dir) => {
      // This node is the one validator and admin, so the genesis is its own.
      const id = await loadOrCreateIdentity(dir)
      const genesis = createGenesis({ networkId: 'pubtest', validators: [id.peerId], admins: [id.peerId], values: { publishers: JSON.stringify([b]) } })
      const file = join(dir, 'genesis.json')
      await writeFile(file, genesisToJson(genesis))
      return { genesis: file }
    })
    assert.deepEqual(body, { source: 'critical', publishers: [b] })
  })
})
