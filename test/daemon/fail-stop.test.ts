/**
 * How fail-stop and start rollback coexist (daemon/fail-stop.ts): a
 * component that stops on its durable state is recorded and stopped, and the
 * lifecycle goes on; any other start error rolls the lifecycle back.
 */
import { expect } from 'chai'
import { pino } from 'pino'
import { FailStopPart, guardedRoute } from '../../daemon/fail-stop.js'
import { CorruptFileError, StorageFailedError } from '../../lib/errors.js'
import { FaultRegistry } from '../../lib/faults.js'
import { Lifecycle, StartError, type Startable } from '../../lib/lifecycle.js'

const silent = pino({ level: 'silent' })

function recording (name: string, journal: string[], start: () => void = () => {}): Startable {
  return {
    start: () => { journal.push(`${name}.start`); start() },
    beforeStop: () => { journal.push(`${name}.beforeStop`) },
    stop: () => { journal.push(`${name}.stop`) }
  }
}

describe('daemon/fail-stop', () => {
  it('a component that finds its file damaged at start is recorded and stopped; the others start and nothing rolls back', async () => {
    const j: string[] = []
    const faults = new FaultRegistry()
    const lc = new Lifecycle()
    await lc.startPart('before', recording('before', j))
    const damaged = await lc.startPart('critical', new FailStopPart('critical', recording('critical', j, () => {
      throw new CorruptFileError('/data/bft/bft-wal.log', 'bad checksum at offset 8', 'move this file aside')
    }), faults, silent))
    await lc.startPart('after', recording('after', j))
    await lc.finishStart()
    expect(lc.state).to.equal('started')
    expect(damaged.faulted).to.equal(true)
    expect(faults.get('critical')?.file).to.equal('/data/bft/bft-wal.log')
    expect(j).to.deep.equal(['before.start', 'critical.start', 'critical.stop', 'after.start'])
    j.length = 0
    await lc.stop()
    // A stopped component gets no beforeStop; its stop (idempotent) runs again with the rest.
    expect(j).to.deep.equal(['after.beforeStop', 'before.beforeStop', 'after.stop', 'critical.stop', 'before.stop'])
  })

  it('any other start error rolls the lifecycle back', async () => {
    const j: string[] = []
    const faults = new FaultRegistry()
    const lc = new Lifecycle()
    await lc.startPart('before', recording('before', j))
    const err = await lc.startPart('config', new FailStopPart('config', recording('config', j, () => { throw new RangeError('bad option') }), faults, silent))
      .then(() => undefined, (e: unknown) => e)
    expect(err).to.be.instanceOf(StartError)
    expect((err as StartError).part).to.equal('config')
    expect(faults.list()).to.deep.equal([])
    expect(j).to.deep.equal(['before.start', 'config.start', 'config.stop', 'before.stop'])
  })

  it('a fault reported while it runs stops it at once; its routes then answer 503 with the fault', async () => {
    const j: string[] = []
    const faults = new FaultRegistry()
    const part = new FailStopPart('config', recording('config', j), faults, silent)
    await part.start()
    const route = guardedRoute(faults, 'config', { method: 'GET', path: '/v1/config', handler: () => ({ json: { ok: true } }) })
    const call = async (): Promise<unknown> => await route.handler({ method: 'GET', params: {}, query: new URLSearchParams(), body: undefined, signal: new AbortController().signal } as any)
    expect(await call()).to.deep.equal({ json: { ok: true } })
    faults.report('other', new StorageFailedError('/data/other', 'fsync failed: EIO'))
    expect(j).to.deep.equal(['config.start'])
    faults.report('config', new StorageFailedError('/data/config/envelopes.log', 'fdatasync failed: EIO'))
    expect(j).to.deep.equal(['config.start', 'config.stop'])
    const answer = await call() as { status: number, json: { error: string } }
    expect(answer.status).to.equal(503)
    expect(answer.json.error).to.match(/^config stopped: .*envelopes\.log: fdatasync failed: EIO; to recover: check the disk/)
    await part.stop()
  })
})
