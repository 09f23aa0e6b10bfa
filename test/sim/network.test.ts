/** The simulators' seeded network (harness/sim/network.ts): every fault it offers, and replay from a seed. */
import assert from 'node:assert/strict'
import { prng } from '../helpers/prng.js'
import { VirtualClock } from './clock.js'
import { SimNetwork, type LinkFaults } from './network.js'

interface World { clock: VirtualClock, net: SimNetwork<string>, got: string[] }

/** Nodes a, b, c; every delivery logged as `to<from:msg@time`. */
function world (faults: LinkFaults = {}, seed = 1): World {
  const clock = new VirtualClock()
  const net = new SimNetwork<string>({ clock, rand: prng(seed), faults, describe: m => m })
  const got: string[] = []
  for (const id of ['a', 'b', 'c']) net.add(id, (from, msg) => { got.push(`${id}<${from}:${msg}@${clock.now()}`) })
  return { clock, net, got }
}

describe('sim: seeded network', () => {
  it('delivers after the link latency; the latency spread reorders; broadcast reaches every other node', () => {
    const { clock, net, got } = world({ latencyMs: [1, 50] })
    for (let i = 0; i < 20; i++) net.send('a', 'b', `m${i}`)
    assert.equal(net.broadcast('c', 'hello'), 2)
    assert.equal(net.inFlightCount, 22)
    clock.tick(50)
    assert.equal(got.length, 22)
    const order = got.filter(g => g.startsWith('b<a')).map(g => Number(g.split(':m')[1].split('@')[0]))
    assert.notDeepEqual(order, [...order].sort((x, y) => x - y), 'no reordering with a 1-50 ms spread')
    for (const g of got) {
      const at = Number(g.split('@')[1])
      assert.ok(at >= 1 && at <= 50, g)
    }
    assert.deepEqual(got.filter(g => g.includes(':hello@')).map(g => g.split('@')[0]).sort(), ['a<c:hello', 'b<c:hello'])
  })

  it('drops and duplicates at the link\'s rates, from the seeded PRNG', () => {
    const { clock, net, got } = world({ drop: 0.3, duplicate: 0.2 })
    for (let i = 0; i < 2000; i++) net.send('a', 'b', `m${i}`)
    clock.tick(10)
    const distinct = new Set(got).size
    // Expected: 1400 distinct kept, 280 of them twice.
    assert.ok(distinct > 1300 && distinct < 1500, `${distinct} distinct delivered`)
    assert.ok(got.length - distinct > 200 && got.length - distinct < 360, `${got.length - distinct} duplicates`)
  })

  it('replays exactly from a seed: same faults, same order, same trace', () => {
    const run = (seed: number): string => {
      const { clock, net, got } = world({ drop: 0.2, duplicate: 0.2, latencyMs: [1, 30] }, seed)
      for (let i = 0; i < 50; i++) net.broadcast(['a', 'b', 'c'][i % 3], `m${i}`)
      net.partitionRandomly(2, 15)
      clock.tick(100)
      return got.join(',') + net.formatTrace(1000)
    }
    assert.equal(run(7), run(7))
    assert.notEqual(run(7), run(8))
  })

  it('partitions: no sends across groups, in-flight messages across the cut are lost, heals by itself unless partitioned again', () => {
    const { clock, net, got } = world({ latencyMs: [10, 10] })
    net.send('a', 'b', 'before')
    net.partition([['a'], ['b', 'c']], 100)
    assert.equal(net.send('a', 'b', 'across'), false)
    assert.equal(net.send('b', 'c', 'within'), true)
    assert.equal(net.reachable('a', 'c'), false)
    clock.tick(50)
    assert.deepEqual(got, ['c<b:within@10'])
    // A second partition before the first heals replaces it, and its own timer decides.
    net.partition([['a', 'b'], ['c']], 200)
    clock.tick(60) // past the first partition's heal time
    assert.equal(net.reachable('a', 'c'), false, 'an old heal timer must not heal a newer partition')
    assert.equal(net.reachable('a', 'b'), true)
    clock.tick(200)
    assert.equal(net.reachable('a', 'c'), true)
    assert.match(net.formatTrace(), /lost a -> b before/)
  })

  it('crash: sends refused, in-flight to it lost even across a restart, its timers dead; what it sent still arrives', () => {
    const { clock, net, got } = world({ latencyMs: [10, 10] })
    const timers: string[] = []
    net.clockOf('b').setTimeout(() => timers.push('old life'), 5)
    net.send('a', 'b', 'to b')
    net.send('b', 'c', 'from b')
    net.crash('b')
    assert.equal(net.isUp('b'), false)
    assert.equal(net.send('b', 'a', 'from the dead'), false)
    assert.equal(net.send('a', 'b', 'to the dead'), false)
    clock.tick(5)
    net.restart('b')
    net.clockOf('b').setTimeout(() => timers.push('new life'), 1)
    clock.tick(20)
    assert.deepEqual(got, ['c<b:from b@10'])
    assert.deepEqual(timers, ['new life'])
    net.send('a', 'b', 'after restart')
    clock.tick(20)
    assert.deepEqual(got, ['c<b:from b@10', 'b<a:after restart@35'])
  })

  it('per-link faults override the network\'s; a cut link carries nothing, one way if asked', () => {
    const { clock, net, got } = world({ latencyMs: [1, 1] })
    net.setLink('a', 'b', { latencyMs: [40, 40] })
    net.setLink('a', 'c', { cut: true }, true)
    net.send('a', 'b', 'slow')
    net.send('b', 'a', 'slow back')
    assert.equal(net.send('a', 'c', 'cut'), false)
    assert.equal(net.send('c', 'a', 'other way'), true)
    clock.tick(100)
    assert.deepEqual(got, ['a<c:other way@1', 'b<a:slow@40', 'a<b:slow back@40'])
    net.setLink('a', 'c', undefined, true)
    assert.equal(net.reachable('a', 'c'), true)
  })

  it('per-node faults: dropIn / dropOut, only for the messages `where` picks', () => {
    const { clock, net, got } = world()
    net.setNodeFaults('b', { dropIn: 1, where: m => m.startsWith('gossip') })
    net.setNodeFaults('c', { dropOut: 1 })
    net.send('a', 'b', 'gossip 1')
    net.send('a', 'b', 'dht 1')
    net.send('c', 'a', 'from c')
    clock.tick(5)
    assert.deepEqual(got, ['b<a:dht 1@1'])
    net.setNodeFaults('b', undefined)
    net.send('a', 'b', 'gossip 2')
    clock.tick(5)
    assert.deepEqual(got, ['b<a:dht 1@1', 'b<a:gossip 2@6'])
  })

  it('dropInFlight loses what is on the wire; the trace keeps the last events and annotates a failure', () => {
    const clock = new VirtualClock()
    const net = new SimNetwork<string>({ clock, rand: prng(3), faults: { latencyMs: [5, 5] }, traceLimit: 4, describe: m => m })
    const got: string[] = []
    net.add('x', (_f, m) => { got.push(m) })
    net.add('y', () => {})
    for (let i = 0; i < 10; i++) net.send('y', 'x', `m${i}`)
    assert.equal(net.dropInFlight(), 10)
    clock.tick(10)
    assert.deepEqual(got, [])
    assert.equal(net.trace.total, 20)
    assert.deepEqual(net.trace.events().map(e => `${e.kind} ${String(e.msg)}`), ['cut m6', 'cut m7', 'cut m8', 'cut m9'])
    const err = net.annotate(new Error('boom'), 'seed 3') as Error
    assert.match(err.message, /^seed 3: boom\nlast network events:\n {2}\(16 earlier events not shown\)\n {2}t=0 cut y -> x m6/)
    assert.match(err.stack ?? '', /seed 3: boom/)
  })
})
