'use strict'
const net = require('net')
const { invokeMap, network } = require('@testground/sdk')

const sleep = (ms) => new Promise(resolve => setTimeout(resolve, ms))

/** Connects to ip:port; resolves true on connect, false on error or after timeoutMs. */
function canConnect (ip, port, timeoutMs) {
  return new Promise(resolve => {
    const s = net.connect({ host: ip, port })
    const done = (v) => { clearTimeout(t); s.destroy(); resolve(v) }
    const t = setTimeout(() => done(false), timeoutMs)
    s.once('connect', () => done(true))
    s.once('error', () => done(false))
  })
}

const BULK = 256 * 1024

/** Sends BULK bytes to ip:port and resolves with the ms until the peer confirms receipt. */
function sendBulk (ip, port) {
  return new Promise((resolve, reject) => {
    const t0 = Date.now()
    const s = net.connect({ host: ip, port }, () => s.write(Buffer.alloc(BULK, 1)))
    s.once('data', () => { resolve(Date.now() - t0); s.destroy() })
    s.once('error', reject)
    setTimeout(() => { s.destroy(); reject(new Error('bulk transfer timed out')) }, 20000).unref()
  })
}

function writeResults (runenv, metrics) {
  require('fs').writeFileSync(require('path').join(runenv.testOutputsPath, 'results.json'), JSON.stringify({ metrics }))
}

async function ok (runenv, client) {
  const netclient = network.newClient(client, runenv)
  await netclient.waitNetworkInitialized()
  const ip = netclient.getDataNetworkIP()
  const seq = await client.signalAndWait('ready', runenv.testInstanceCount)
  await client.publish('ips', { seq, ip })
  const behaviour = runenv.testInstanceParams.behaviour
  runenv.recordMessage(`instance ${seq} at ${ip}: ${behaviour}`)
  writeResults(runenv, { seq })
  if (behaviour === 'fail') throw new Error('failing on purpose')
  if (behaviour === 'crash') process.exit(3)
  if (behaviour === 'hang') await new Promise(() => { setInterval(() => {}, 1000) })
}

async function filter (runenv, client) {
  if (!runenv.testSidecar) throw new Error('needs a sidecar')
  const netclient = network.newClient(client, runenv)
  await netclient.waitNetworkInitialized()
  const ip = netclient.getDataNetworkIP()
  const seq = await client.signalEntry('role')
  if (seq === 1) {
    const server = net.createServer(s => s.end())
    await new Promise(resolve => server.listen(7000, ip, resolve))
    // 7001 counts what it receives and answers with the count once it has BULK bytes (bandwidth check).
    const sink = net.createServer(s => {
      let n = 0
      s.on('data', d => { n += d.length; if (n >= BULK) s.end(String(n)) })
      s.on('error', () => {})
    })
    await new Promise(resolve => sink.listen(7001, ip, resolve))
    await client.publish('server', { ip })
    await client.signalAndWait('finished', 2)
    server.close()
    sink.close()
    return
  }
  const sub = await client.subscribe('server')
  const { value } = await sub.wait.next()
  sub.cancel()
  const server = value.ip
  if (!await canConnect(server, 7000, 3000)) throw new Error('no connection before any filter')
  // testground's semantics (pkg/sidecar/link.go AddRules, Shape): rules change only the subnets they
  // name, and stay until an accept rule for that subnet; default.filter is not applied at all.
  const configure = (name, cfg) => netclient.configureNetwork({ network: 'default', enable: true, default: {}, rules: [], routingPolicy: 'allow_all', ...cfg, callbackState: name, callbackTarget: 1 })
  const rule = (filter) => [{ subnet: `${server}/32`, filter }]
  await configure('drop-on', { rules: rule(2) })
  if (await canConnect(server, 7000, 1500)) throw new Error('connected through a drop rule')
  await configure('empty-rules', { rules: [] })
  if (await canConnect(server, 7000, 1500)) throw new Error('an empty rules list removed the drop rule')
  await configure('reject-on', { rules: rule(1) })
  if (await canConnect(server, 7000, 1500)) throw new Error('connected through a reject rule')
  await configure('accept', { rules: rule(0) })
  if (!await canConnect(server, 7000, 3000)) throw new Error('no connection after an accept rule')
  await configure('default-filter', { default: { filter: 2 } })
  if (!await canConnect(server, 7000, 3000)) throw new Error('default.filter was applied (testground ignores it)')
  await configure('loss-on', { default: { loss: 100 } })
  if (await canConnect(server, 7000, 1500)) throw new Error('connected through 100% loss')
  // 1 Mbit/s egress: BULK (256 KiB = 2 Mbit) needs about 2 s; unshaped it takes milliseconds.
  await configure('bw-on', { default: { bandwidth: 1 << 20 } })
  if (!await canConnect(server, 7000, 3000)) throw new Error('no connection after removing filters (bandwidth limit only)')
  const ms = await sendBulk(server, 7001)
  runenv.recordMessage(`sent ${BULK} bytes at 1 Mbit/s in ${ms} ms`)
  if (ms < 1500 || ms > 6000) throw new Error(`256 KiB at 1 Mbit/s took ${ms} ms; expected about 2000`)
  writeResults(runenv, { bulk_1mbit_ms: ms })
  runenv.recordMessage('drop, reject and loss blocked traffic; an empty rules list kept the drop; accept and a new link shape restored it; default.filter changed nothing; bandwidth limited')
  await client.signalAndWait('finished', 2)
}

async function netem (runenv, client) {
  const netclient = network.newClient(client, runenv)
  await netclient.waitNetworkInitialized()
  // The runner must refuse this (no netem in the kernel) and fail the instance with a clear reason.
  await netclient.configureNetwork({ network: 'default', enable: true, default: { latency: 100 * 1e6 }, callbackState: 'latency', routingPolicy: 'allow_all' })
  await sleep(1000)
}

invokeMap({ ok, filter, netem }).finally(() => setTimeout(() => process.exit(), 1000).unref())
