/**
 * host/core-update.ts through the component host, with fake release and
 * archive sources and a real launcher state file: a core release is
 * unpacked like any component, linked, written as `trying` and switched to;
 * the running version is reported passing; without the launcher nothing is
 * fetched; a build the launcher gave up on is reported failed and never
 * tried again; a build on trial is `starting` until the launcher confirms
 * it; an undeploy leaves the core's files alone; damage is named.
 */
import assert from 'node:assert/strict'
import { lstat, mkdir, mkdtemp, readlink, realpath, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { Registry } from 'prom-client'
import { ComponentHost, type DesiredRelease, type HostRelease } from '../../host/component-host.js'
import { hostTunables } from '../../host/constants.js'
import { CORE_COMPONENT, NO_LAUNCHER_REASON, type CoreInit } from '../../host/core-update.js'
import { coreStatePath } from '../../launcher/contract.js'
import { readState, writeState } from '../../launcher/state-file.js'
import { confirm } from '../../launcher/state.js'
import { packDirectory } from '../../protocols/artifacts/archive.js'
import { ArtifactUnavailableError } from '../../protocols/artifacts/errors.js'
import { addressArchive } from '../../protocols/artifacts/signed-manifest.js'
import type { ComponentReport } from '../../protocols/health/report.js'
import { waitFor } from '../../harness/agent-process.js'

const logger = pino({ level: 'silent' })
const RUNNING = '0.1.0'
const STARTED_AT = 1_700_000_000_000

interface Built { release: HostRelease, bytes: Uint8Array }

/** A core build archive as `mycel core pack` makes one (here without a real dist). */
async function coreBuild (root: string, version: string, opts: { cli?: boolean } = {}): Promise<Built> {
  const dir = join(root, `core-${version}`)
  await mkdir(join(dir, 'dist', 'daemon'), { recursive: true })
  await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'mycel', version }))
  if (opts.cli !== false) await writeFile(join(dir, 'dist', 'daemon', 'cli.js'), '// agent\n')
  await writeFile(join(dir, 'mycel.component.yaml'), `name: mycel\nversion: ${version}\nentry: ["dist/daemon/cli.js", "agent"]\n`)
  const chunks: Uint8Array[] = []
  for await (const c of await packDirectory(dir)) chunks.push(c)
  const bytes = Buffer.concat(chunks)
  return { bytes, release: { name: CORE_COMPONENT, version, entry: ['dist/daemon/cli.js', 'agent'], archive: await addressArchive(bytes), publisher: 'p' } as unknown as HostRelease }
}

describe('component host: the core component', function () {
  this.timeout(20_000)
  let root: string
  let dataDir: string
  let nodeModules: string
  const hosts: ComponentHost[] = []
  let desired: DesiredRelease[] = []
  let releases: Map<string, Built>
  let fetches: number
  let switches: number

  function host (core: Partial<CoreInit> | undefined = {}): ComponentHost {
    const h = new ComponentHost({ dataDir, logger, registry: new Registry(), signal: new AbortController().signal }, {
      tunables: hostTunables.defaults('test'),
      desired: () => desired,
      releases: {
        release: async (name, version) => {
          const b = releases.get(version)
          if (b === undefined) throw new ArtifactUnavailableError(`${name}@${version} unknown`)
          return b.release
        }
      },
      archives: {
        fetch: async () => { fetches++ },
        read: (cid) => (async function * () { yield [...releases.values()].find(b => b.release.archive.cid === cid)!.bytes })()
      },
      ...(core !== undefined ? { core: { version: RUNNING, startedAt: STARTED_AT, nodeModules, switchCore: () => { switches++ }, ...core } } : {})
    })
    hosts.push(h)
    return h
  }

  const coreReport = (h: ComponentHost): ComponentReport | undefined => h.report().find(r => r.name === CORE_COMPONENT)

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'mycel-core-host-'))
    dataDir = join(root, 'data')
    nodeModules = join(root, 'install', 'node_modules')
    await mkdir(nodeModules, { recursive: true })
    await mkdir(dataDir)
    releases = new Map()
    for (const v of ['0.1.0', '0.2.0']) releases.set(v, await coreBuild(root, v))
    releases.set('0.3.0', await coreBuild(root, '0.3.0', { cli: false }))
    desired = []
    fetches = 0
    switches = 0
  })
  afterEach(async () => {
    for (const h of hosts.splice(0)) await h.stop()
    await rm(root, { recursive: true, force: true })
  })

  it('the running version: nothing to do; reported running and passing since the agent started', async () => {
    desired = [{ name: CORE_COMPONENT, version: RUNNING }]
    const h = host()
    await h.start()
    await h.idle()
    assert.deepEqual(coreReport(h), { name: CORE_COMPONENT, version: RUNNING, state: 'running', pid: process.pid, restarts: 0, health: 'passing', since: STARTED_AT })
    assert.equal(fetches, 0)
    assert.equal(switches, 0)
  })

  it('another version: unpacked like a component, node_modules linked, written as trying, the agent switched once', async () => {
    desired = [{ name: CORE_COMPONENT, version: '0.2.0' }]
    const h = host()
    await h.start()
    await waitFor(() => switches === 1, 5_000, 'the switch')
    await h.idle()
    const dir = join(dataDir, 'components', CORE_COMPONENT, '0.2.0')
    assert.equal(fetches, 1)
    assert.ok((await lstat(join(dir, 'node_modules'))).isSymbolicLink())
    assert.equal(await readlink(join(dir, 'node_modules')), await realpath(nodeModules))
    assert.deepEqual(await readState(coreStatePath(dataDir)), { trying: { version: '0.2.0', dir, attempts: 0 }, bad: [] })
    const r = coreReport(h)!
    assert.equal(r.version, '0.2.0')
    assert.equal(r.state, 'installing')
    // A later change does not switch twice.
    h.reconcile()
    h.retryNow()
    await h.idle()
    assert.equal(switches, 1)
  })

  it('without the launcher: failed with the reason, nothing fetched; the running version is still reported running', async () => {
    desired = [{ name: CORE_COMPONENT, version: '0.2.0' }]
    const h = host({ switchCore: undefined })
    await h.start()
    await h.idle()
    const r = coreReport(h)!
    assert.equal(r.state, 'failed')
    assert.equal(r.version, '0.2.0')
    assert.equal(r.reason, NO_LAUNCHER_REASON)
    assert.equal(fetches, 0)
    desired = [{ name: CORE_COMPONENT, version: RUNNING }]
    h.reconcile()
    await h.idle()
    assert.equal(coreReport(h)?.state, 'running')
  })

  it('a build the launcher gave up on: failed and failing with why, never fetched or tried again', async () => {
    const dir = join(dataDir, 'components', CORE_COMPONENT, '0.2.0')
    await writeState(coreStatePath(dataDir), { bad: [{ version: '0.2.0', dir, at: 123, attempts: 2, reason: 'exited with code 1 before it was ready', returnedTo: RUNNING }] })
    desired = [{ name: CORE_COMPONENT, version: '0.2.0' }]
    const h = host()
    await h.start()
    await h.idle()
    h.retryNow()
    h.reconcile()
    await h.idle()
    assert.deepEqual(coreReport(h), {
      name: CORE_COMPONENT, version: '0.2.0', state: 'failed', restarts: 0, health: 'failing', since: 123,
      reason: 'the launcher returned to 0.1.0: 0.2.0 did not become ready (exited with code 1 before it was ready, 2 attempts)'
    })
    assert.equal(fetches, 0)
    assert.equal(switches, 0)
  })

  it('this agent on trial: starting, nothing else written, until the launcher confirms it; then it goes on to the wanted version', async () => {
    const self = { version: RUNNING, dir: join(dataDir, 'components', CORE_COMPONENT, RUNNING) }
    await writeState(coreStatePath(dataDir), { trying: { ...self, attempts: 1 }, bad: [] })
    desired = [{ name: CORE_COMPONENT, version: '0.2.0' }]
    const h = host()
    await h.start()
    await h.idle()
    assert.equal(coreReport(h)?.state, 'starting')
    assert.equal(coreReport(h)?.version, RUNNING)
    assert.equal(coreReport(h)?.health, 'unknown')
    await new Promise(resolve => setTimeout(resolve, 300))
    assert.equal(fetches, 0, 'the launcher state is the launcher\'s while the trial runs')
    assert.equal((await readState(coreStatePath(dataDir))).trying?.version, RUNNING)
    // The launcher confirms: the host's poll sees it (no other event) and installs 0.2.0.
    await writeState(coreStatePath(dataDir), confirm(await readState(coreStatePath(dataDir)), self))
    await waitFor(() => switches === 1, 5_000, 'the switch once confirmed')
    assert.deepEqual((await readState(coreStatePath(dataDir))).good, self)
    assert.equal((await readState(coreStatePath(dataDir))).trying?.version, '0.2.0')
  })

  it('undeployed: no entry, and the core builds on disk stay (the running build may be one of them); a restarted host adopts nothing there', async () => {
    desired = [{ name: CORE_COMPONENT, version: '0.2.0' }]
    const h = host()
    await h.start()
    await waitFor(() => switches === 1, 5_000, 'the switch')
    await h.idle()
    await h.stop()
    const h2 = host()
    desired = []
    await h2.start()
    await h2.idle()
    assert.equal(coreReport(h2), undefined)
    assert.ok((await lstat(join(dataDir, 'components', CORE_COMPONENT, '0.2.0', 'dist', 'daemon', 'cli.js'))).isFile())
  })

  it('an archive that is not a core build, and a damaged launcher state, are failures named in the report', async () => {
    desired = [{ name: CORE_COMPONENT, version: '0.3.0' }]
    const h = host()
    await h.start()
    await waitFor(() => coreReport(h)?.state === 'failed', 5_000, 'refused')
    assert.match(coreReport(h)!.reason!, /not a core build: no dist\/daemon\/cli\.js/)
    assert.equal(switches, 0)
    await h.stop()
    await mkdir(join(dataDir, 'core'), { recursive: true })
    await writeFile(coreStatePath(dataDir), 'damaged\n')
    desired = [{ name: CORE_COMPONENT, version: '0.2.0' }]
    const h2 = host()
    await h2.start()
    await h2.idle()
    assert.equal(coreReport(h2)?.state, 'failed')
    assert.match(coreReport(h2)!.reason!, /core\/state: not a launcher state file/)
    assert.equal(switches, 0)
  })
})
