/** `mycel genesis create|show` through the built CLI: file written, validated, hash printed; bad input exits 2. */
import { strict as assert } from 'node:assert'
import { spawnSync } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { genesisHashHex, parseGenesis } from '../../protocols/bft/genesis.js'

const CLI = resolve('dist/daemon/cli.js')
const mycel = (...args: string[]): { status: number | null, stdout: string, stderr: string } => {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000 })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

describe('mycel genesis CLI', function () {
  this.timeout(120_000)
  let dir: string
  before(async () => { dir = await mkdtemp(join(tmpdir(), 'mycel-genesis-')) })
  after(async () => { await rm(dir, { recursive: true, force: true }) })

  it('creates a genesis file, shows it with the same hash, refuses bad input', async () => {
    const ids = await Promise.all([1, 2, 3, 4].map(async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()))
    const out = join(dir, 'genesis.json')
    const r = mycel('genesis', 'create', '--network-id', 'prod-1', ...ids.flatMap(id => ['--validator', id]), '--admin', ids[0],
      '--set', 'policy/admission=closed', '--set', 'acl/billing=["x"]', '--out', out)
    assert.equal(r.status, 0, r.stderr)
    const g = parseGenesis(JSON.parse(await readFile(out, 'utf8')))
    assert.deepEqual(g.validators, [...ids].sort())
    assert.equal(g.values['acl/billing'], '["x"]')
    assert.match(r.stderr, new RegExp(genesisHashHex(g)))
    assert.match(r.stderr, /tolerates 1 faulty/)
    const show = mycel('genesis', 'show', out, '--json')
    assert.equal(show.status, 0, show.stderr)
    assert.equal(JSON.parse(show.stdout).hash, genesisHashHex(g))
    assert.equal(mycel('genesis', 'create', '--network-id', 'x', '--validator', ids[0], '--admin', ids[0], '--out', out).status, 2, 'no overwrite without --force')
    const bad = mycel('genesis', 'create', '--network-id', 'x', '--validator', 'nope', '--admin', ids[0])
    assert.equal(bad.status, 2)
    assert.match(bad.stderr, /Ed25519 peer id/)
    assert.equal(mycel('genesis', 'create', '--network-id', 'x', '--admin', ids[0]).status, 2)
  })
})
