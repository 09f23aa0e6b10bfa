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

async function ok (runenv, client) {
  const netclient = network.newClient(client, runenv)
  await netclient.waitNetworkInitialized()
  const ip = netclient.getDataNetworkIP()
  const seq = await client.signalAndWait('ready', runenv.testInstanceCount)
  await client.publish('ips', { seq, ip })
  const behaviour = runenv.testInstanceParams.behaviour
  runenv.recordMessage(`instance ${seq} at ${ip}: ${behaviour}`)
  require('fs').writeFileSync(require('path').join(runenv.testOutputsPath, 'results.json'), JSON.stringify({ metrics: { seq } }))
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
    await client.publish('server', { ip })
    await client.signalAndWait('finished', 2)
    server.close()
    return
  }
  const sub = await client.subscribe('server')
  const { value } = await sub.wait.next()
  sub.cancel()
  const server = value.ip
  if (!await canConnect(server, 7000, 3000)) throw new Error('no connection before any filter')
  for (const [filter, name] of [[2, 'drop'], [1, 'reject']]) {
    await netclient.configureNetwork({ network: 'default', enable: true, default: {}, rules: [{ subnet: `${server}/32`, filter }], callbackState: `${name}-on`, callbackTarget: 1, routingPolicy: 'allow_all' })
    if (await canConnect(server, 7000, 1500)) throw new Error(`connected through a ${name} rule`)
  }
  await netclient.configureNetwork({ network: 'default', enable: true, default: { loss: 100 }, callbackState: 'loss-on', callbackTarget: 1, routingPolicy: 'allow_all' })
  if (await canConnect(server, 7000, 1500)) throw new Error('connected through 100% loss')
  await netclient.configureNetwork({ network: 'default', enable: true, default: { bandwidth: 1 << 20 }, callbackState: 'bw-on', callbackTarget: 1, routingPolicy: 'allow_all' })
  if (!await canConnect(server, 7000, 3000)) throw new Error('no connection after removing filters (bandwidth limit only)')
  runenv.recordMessage('drop, reject and loss filters blocked traffic; removing them restored it')
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
