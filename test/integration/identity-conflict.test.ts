/**
 * Two processes with one identity on different data dirs (a copied
 * identity.key, issue 11 item 2) are detected when they meet: with real
 * processes, the copy logs that another process runs with its identity and
 * a third agent logs the peer id announced from two addresses, both naming
 * the peer id and both addresses, and the conflict is counted.
 */
import { strict as assert } from 'node:assert'
import { copyFile, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { AgentProcess, waitFor } from '../../harness/agent-process.js'
import { createIdentity, IDENTITY_FILE } from '../../daemon/identity.js'

describe('identity conflict (a copied key, real processes)', function () {
  this.timeout(180_000)
  let root: string
  const agents: AgentProcess[] = []

  before(async () => { root = await mkdtemp(join(tmpdir(), 'mycel-twins-')) })
  after(async () => {
    await Promise.all(agents.map(async a => { await a.cleanup() }))
    await rm(root, { recursive: true, force: true })
  })

  it('is logged loudly by the copy and by a third agent, naming the peer id and both addresses', async () => {
    const witness = await AgentProcess.start({})
    agents.push(witness)
    const one = join(root, 'one')
    const two = join(root, 'two')
    const id = (await createIdentity(one)).peerId
    await createIdentity(two)
    await copyFile(join(one, IDENTITY_FILE), join(two, IDENTITY_FILE))
    const original = await AgentProcess.start({ dataDir: one, bootstrap: [witness.addr] })
    agents.push(original)
    const copy = await AgentProcess.start({ dataDir: two, bootstrap: [witness.addr] })
    agents.push(copy)
    assert.equal(original.peerId, id)
    assert.equal(copy.peerId, id)
    const portA = `/tcp/${original.port}`
    const portB = `/tcp/${copy.port}`
    const errorLine = (text: string, what: RegExp): string | undefined =>
      text.split('\n').find(l => l.includes('"level":50') && what.test(l) && l.includes(id) && l.includes(portA) && l.includes(portB))

    await waitFor(() => errorLine(witness.stderr, /identity conflict: peer .* is announced by two processes/), 60_000, 'the witness to log the conflict', 250)
    await waitFor(() => errorLine(copy.stderr, /identity conflict: another process runs with this agent.s identity/), 60_000, 'the copy to log the conflict', 250)
    const metrics = await (await fetch(`http://${witness.api}/metrics`)).text()
    assert.match(metrics, /^mycel_membership_identity_conflicts_total\{kind="member"\} [1-9]/m)
  })
})
