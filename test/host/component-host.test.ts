/**
 * host/component-host.ts with real processes (a shell that execs sleep) and
 * fake release and archive sources: install and run, a failed upgrade that
 * leaves the running version running, disk full during the unpack, an agent
 * restart that re-adopts instead of restarting, an undeploy while the agent
 * was down, an unknown desired set (nothing stopped), a publisher no longer
 * trusted, and retries that back off instead of spinning.
 */
import assert from 'node:assert/strict'
import { mkdtemp, readdir, rm, writeFile, mkdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { Registry } from 'prom-client'
import { ComponentHost, type DesiredRelease, type HostRelease } from '../../host/component-host.js'
import { hostTunables } from '../../host/constants.js'
import { readCurrent } from '../../host/installed.js'
import { packDirectory } from '../../protocols/artifacts/archive.js'
import { ArtifactUnavailableError, UntrustedPublisherError } from '../../protocols/artifacts/errors.js'
import { addressArchive } from '../../protocols/artifacts/signed-manifest.js'
import { waitFor } from '../../harness/agent-process.js'

const logger = pino({ level: 'silent' })

function alive (pid: number | undefined): boolean {
  if (pid === undefined) return false
  try { process.kill(pid, 0); return true } catch { return false }
}

interface Built { release: HostRelease, bytes: Uint8Array }

async function build (root: string, version: string): Promise<Built> {
  const dir = join(root, `src-${version}`)
  await mkdir(dir, { recursive: true })
  await writeFile(join(dir, 'run.sh'), 'exec sleep 1000\n')
  await writeFile(join(dir, 'mycel.component.yaml'), `name: probe\nversion: ${version}\nentry: ["/bin/sh", "run.sh"]\n`)
  const chunks: Uint8Array[] = []
  for await (const c of await packDirectory(dir)) chunks.push(c)
  const bytes = Buffer.concat(chunks)
  const archive = await addressArchive(bytes)
  return { bytes, release: { name: 'probe', version, entry: ['/bin/sh', 'run.sh'], archive, publisher: 'p' } as unknown as HostRelease }
}

/** Releases and archives as the tests script them. */
class World {
  desired: DesiredRelease[] | undefined = []
  readonly releases = new Map<string, Built>()
  untrusted = new Set<string>()
  /** release() fails with this (not a trust error: the artifact service stopped on a fault). */
  releaseError?: Error
  /** fetch() waits until its signal aborts. */
  hangFetch = false
  fetchAborted = 0
  fetchError?: Error
  readError?: Error
  fetches = 0
  readonly fetchedAt: number[] = []

  add (b: Built): void { this.releases.set(b.release.version, b) }

  host (dataDir: string, tunables: Partial<ReturnType<typeof hostTunables.defaults>> = {}): ComponentHost {
    return new ComponentHost({ dataDir, logger, registry: new Registry(), signal: new AbortController().signal }, {
      tunables: { ...hostTunables.defaults('test'), ...tunables },
      desired: () => this.desired,
      releases: {
        release: async (name, version) => {
          const b = this.releases.get(version)
          if (b === undefined) throw new ArtifactUnavailableError(`${name}@${version} unknown`)
          if (this.untrusted.has(version)) throw new UntrustedPublisherError('not trusted')
          if (this.releaseError !== undefined) throw this.releaseError
          return b.release
        }
      },
      archives: {
        fetch: async (_archive, signal) => {
          this.fetches++
          this.fetchedAt.push(Date.now())
          if (this.hangFetch) {
            await new Promise<void>(resolve => { signal.addEventListener('abort', () => { this.fetchAborted++; resolve() }, { once: true }) })
            throw new Error('aborted')
          }
          if (this.fetchError !== undefined) throw this.fetchError
        },
        read: (cid) => {
          const world = this
          return (async function * () {
            const b = [...world.releases.values()].find(r => r.release.archive.cid === cid)
            if (b === undefined) throw new Error('no such archive')
            yield b.bytes.subarray(0, 1024)
            if (world.readError !== undefined) throw world.readError
            yield b.bytes.subarray(1024)
          })()
        }
      }
    })
  }
}

describe('component host', function () {
  this.timeout(20_000)
  let dir: string
  const hosts: ComponentHost[] = []
  let world: World

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mycel-host-'))
    world = new World()
    world.add(await build(dir, '1.0.0'))
    world.add(await build(dir, '2.0.0'))
  })

  afterEach(async () => {
    // Stop for real (not detach): nothing outlives the test.
    world.desired = []
    for (const h of hosts.splice(0)) {
      for (const r of h.report()) if (r.pid !== undefined) try { process.kill(-r.pid, 'SIGKILL') } catch {}
      await h.stop()
    }
    await rm(dir, { recursive: true, force: true })
  })

  async function started (tunables: Partial<ReturnType<typeof hostTunables.defaults>> = {}): Promise<ComponentHost> {
    const h = world.host(join(dir, 'data'), tunables)
    hosts.push(h)
    await h.start()
    return h
  }

  /** 1.0.0 installed and running under a host that then stops (an agent restart's first half); its pid. */
  async function ranThenAgentStopped (): Promise<number> {
    world.desired = [{ name: 'probe', version: '1.0.0' }]
    const h1 = await started()
    const pid = await running(h1, '1.0.0')
    await h1.stop()
    hosts.splice(hosts.indexOf(h1), 1)
    return pid
  }

  const running = async (h: ComponentHost, version: string): Promise<number> => await waitFor(() => {
    const r = h.report().find(c => c.name === 'probe')
    return r?.state === 'running' && r.version === version && alive(r.pid) ? r.pid : undefined
  }, 15_000, `probe ${version} running`)

  it('installs the desired version, runs it, and records it as current', async () => {
    world.desired = [{ name: 'probe', version: '1.0.0' }]
    const h = await started()
    const pid = await running(h, '1.0.0')
    assert.ok(alive(pid))
    const current = await readCurrent(join(dir, 'data'), 'probe')
    assert.equal(current?.current.version, '1.0.0')
    assert.deepEqual((await readdir(join(dir, 'data', 'components', 'probe'))).sort(), ['1.0.0', 'current'])
  })

  it('keeps the running version when an upgrade cannot be fetched, and switches once it can', async () => {
    world.desired = [{ name: 'probe', version: '1.0.0' }]
    const h = await started()
    const oldPid = await running(h, '1.0.0')
    world.fetchError = new ArtifactUnavailableError('no provider has it')
    world.desired = [{ name: 'probe', version: '2.0.0' }]
    h.reconcile()
    // No provider yet is not this node's failure: still fetching, with the reason.
    const failed = await waitFor(() => h.report().find(c => c.version === '2.0.0' && c.reason !== undefined), 15_000, 'failed upgrade reported')
    assert.equal(failed.state, 'fetching')
    assert.match(failed.reason ?? '', /no provider has it.*1\.0\.0 keeps running/)
    assert.ok(alive(oldPid), 'the old version still runs')
    world.fetchError = undefined
    const newPid = await running(h, '2.0.0')
    assert.notEqual(newPid, oldPid)
    await waitFor(() => !alive(oldPid), 15_000, 'old version stopped')
    const current = await readCurrent(join(dir, 'data'), 'probe')
    assert.deepEqual({ current: current?.current.version, previous: current?.previous?.version }, { current: '2.0.0', previous: '1.0.0' })
  })

  it('disk full during the unpack: a clear failure, nothing half-written, the previous version untouched', async () => {
    world.desired = [{ name: 'probe', version: '1.0.0' }]
    const h = await started()
    const oldPid = await running(h, '1.0.0')
    world.readError = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' })
    world.desired = [{ name: 'probe', version: '2.0.0' }]
    h.reconcile()
    const failed = await waitFor(() => h.report().find(c => c.state === 'failed'), 15_000, 'failed install reported')
    assert.match(failed.reason ?? '', /ENOSPC/)
    assert.ok(alive(oldPid))
    const left = await readdir(join(dir, 'data', 'components', 'probe'))
    assert.deepEqual(left.sort(), ['1.0.0', 'current'], 'no partial 2.0.0 and no temp dir')
    assert.equal((await readCurrent(join(dir, 'data'), 'probe'))?.current.version, '1.0.0')
  })

  it('an agent restart re-adopts the running process instead of restarting it', async () => {
    const pid = await ranThenAgentStopped()
    assert.ok(alive(pid), 'the component outlives the host')
    const h2 = await started()
    assert.equal(await running(h2, '1.0.0'), pid)
    assert.equal(h2.report()[0].restarts, 0)
    assert.equal(world.fetches, 1, 'nothing fetched again')
  })

  it('stops a component undeployed while the agent was down, without starting it first', async () => {
    const pid = await ranThenAgentStopped()
    world.desired = []
    const h2 = await started()
    await waitFor(() => !alive(pid), 15_000, 'undeployed component stopped')
    await waitFor(() => h2.report().length === 0, 15_000, 'nothing reported')
    await waitFor(async () => (await readdir(join(dir, 'data', 'components'))).length === 0, 15_000, 'its files removed')
  })

  it('stops nothing while the desired set is unknown (replicated config not running)', async () => {
    const pid = await ranThenAgentStopped()
    world.desired = undefined
    const h2 = await started()
    assert.equal(await running(h2, '1.0.0'), pid)
    h2.reconcile()
    assert.ok(alive(pid))
  })

  it('a release whose publisher is no longer trusted is stopped at the next start and reported failed', async () => {
    const pid = await ranThenAgentStopped()
    world.untrusted.add('1.0.0')
    const h2 = await started()
    await waitFor(() => !alive(pid), 15_000, 'untrusted component stopped')
    const r = await waitFor(() => h2.report().find(c => c.state === 'failed'), 15_000, 'failure reported')
    assert.match(r.reason ?? '', /not trusted/)
  })

  it('keepOnly (a counted deployment not placed yet): keeps what runs, starts nothing new', async () => {
    world.desired = [{ name: 'probe', version: '1.0.0' }]
    const h = await started()
    const pid = await running(h, '1.0.0')
    world.desired = [{ name: 'probe', version: '1.0.0', keepOnly: true }]
    h.reconcile()
    await h.idle()
    assert.equal(await running(h, '1.0.0'), pid, 'same process')
    // Another version to keep is not this one: stopped, nothing fetched.
    const fetches = world.fetches
    world.desired = [{ name: 'probe', version: '2.0.0', keepOnly: true }]
    h.reconcile()
    await waitFor(() => !alive(pid) && h.report().length === 0, 15_000, 'stopped, not replaced')
    assert.equal(world.fetches, fetches)
  })

  it('an agent restart while releases cannot be read (not a trust problem) leaves the component running, then adopts it', async () => {
    const pid = await ranThenAgentStopped()
    world.releaseError = Object.assign(new Error('the artifact service is not running'), { name: 'ArtifactServiceStoppedError' })
    const h2 = await started()
    await waitFor(() => h2.report().find(c => c.state === 'failed'), 15_000, 'failure reported')
    assert.ok(alive(pid), 'not stopped')
    world.releaseError = undefined
    h2.retryNow()
    assert.equal(await running(h2, '1.0.0'), pid, 'adopted, not restarted')
  })

  it('desired set unknown and an adopt that fails: the retries never stop or delete the component', async () => {
    const pid = await ranThenAgentStopped()
    world.desired = undefined
    world.releaseError = new Error('cannot read releases')
    const before = world.fetches
    const h2 = await started()
    await waitFor(() => h2.report().find(c => c.state === 'failed'), 15_000, 'failure reported')
    h2.retryNow()
    await h2.idle()
    assert.ok(alive(pid))
    assert.deepEqual((await readdir(join(dir, 'data', 'components', 'probe'))).sort(), ['1.0.0', 'current'])
    assert.equal(world.fetches, before)
  })

  it('an upgrade the host cannot run (a health check it refuses) leaves the old version running', async () => {
    world.desired = [{ name: 'probe', version: '1.0.0' }]
    const h = await started()
    const pid = await running(h, '1.0.0')
    const bad = world.releases.get('2.0.0')!
    bad.release = { ...bad.release, health: { tcp: '127.0.0.1:0' } } as HostRelease
    world.desired = [{ name: 'probe', version: '2.0.0' }]
    h.reconcile()
    const failed = await waitFor(() => h.report().find(c => c.state === 'failed'), 15_000, 'failure reported')
    assert.match(failed.reason ?? '', /port/)
    assert.ok(alive(pid), 'old version untouched')
    assert.equal((await readCurrent(join(dir, 'data'), 'probe'))?.current.version, '1.0.0')
  })

  it('an undeploy during a fetch aborts the fetch at once', async () => {
    world.hangFetch = true
    world.desired = [{ name: 'probe', version: '1.0.0' }]
    const h = await started()
    await waitFor(() => h.report().find(c => c.state === 'fetching'), 15_000, 'fetching')
    world.desired = []
    h.reconcile()
    await waitFor(() => world.fetchAborted === 1 && h.report().length === 0, 15_000, 'fetch aborted, nothing reported')
  })

  it('retryNow: a release learned during a long pause is installed at once', async () => {
    const late = world.releases.get('1.0.0')!
    world.releases.delete('1.0.0')
    world.desired = [{ name: 'probe', version: '1.0.0' }]
    const h = await started({ installRetryMinMs: 60_000, installRetryMaxMs: 60_000 })
    const failed = await waitFor(() => h.report().find(c => c.reason !== undefined), 15_000, 'unknown release reported')
    assert.equal(failed.state, 'fetching', 'waiting for the release, not failed')
    assert.match(failed.reason ?? '', /unknown/)
    world.add(late)
    h.retryNow()
    await running(h, '1.0.0')
  })

  it('retries a failing install with a doubling pause, never in a busy loop', async () => {
    world.fetchError = new ArtifactUnavailableError('nobody has it')
    world.desired = [{ name: 'probe', version: '1.0.0' }]
    const t = hostTunables.defaults('test')
    const started_ = Date.now()
    const h = await started()
    await waitFor(() => world.fetches >= 3, 10_000, 'three attempts')
    const elapsed = Date.now() - started_
    // Attempts at 0, min, 3·min: the third cannot come before the two pauses.
    assert.ok(elapsed >= t.installRetryMinMs * 3, `third attempt after ${elapsed} ms`)
    const before = world.fetches
    for (let i = 0; i < 10; i++) h.reconcile()
    await waitFor(() => world.fetches >= before + 2, 10_000, 'two more attempts')
    // Every pause, including the one the reconcile calls fell into, at least the minimum: no attempt jumped the queue.
    const gaps = world.fetchedAt.slice(1).map((t, i) => t - world.fetchedAt[i])
    assert.ok(gaps.every(g => g >= t.installRetryMinMs * 0.9), `gaps ${gaps.join(', ')} ms`)
  })
})
