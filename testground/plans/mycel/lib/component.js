'use strict'
/**
 * What the component-distribution case needs besides the agent: a component directory with an
 * incompressible payload, the agent's view of its local components, its artifact byte counters, and
 * the single-source anchor (one plain HTTP server, plain downloads).
 */
const crypto = require('crypto')
const fs = require('fs')
const fsp = require('fs/promises')
const http = require('http')
const path = require('path')
const { pipeline } = require('stream/promises')
const { request } = require('./agent')
const { Fatal, poll } = require('./util')

/** The payload file inside the component directory; the single-source anchor serves the same file. */
const PAYLOAD = 'payload.bin'

/**
 * Writes `dir/mycel.component.yaml` and `dir/payload.bin` (`bytes` random bytes: incompressible, so no
 * transfer can shrink it) and returns the payload's sha256 (hex).
 * The entry only sleeps: the case measures distribution, not the component. It ends by itself after an
 * hour, so a run killed before it undeploys does not leave processes behind for long.
 */
async function makeComponentDir (dir, { name, version, bytes }) {
  await fsp.mkdir(dir, { recursive: true })
  await fsp.writeFile(path.join(dir, 'mycel.component.yaml'), [
    `name: ${name}`,
    `version: "${version}"`,
    'entry: ["/bin/sh", "-c", "exec sleep 3600"]',
    ''
  ].join('\n'))
  const hash = crypto.createHash('sha256')
  const out = fs.createWriteStream(path.join(dir, PAYLOAD))
  const block = 1 << 20
  for (let left = bytes; left > 0; left -= block) {
    const b = crypto.randomBytes(Math.min(block, left))
    hash.update(b)
    if (!out.write(b)) await new Promise(resolve => out.once('drain', resolve))
  }
  await new Promise((resolve, reject) => out.end(err => (err ? reject(err) : resolve())))
  return hash.digest('hex')
}

/**
 * This agent's entry for component `name` from `GET /v1/components/local`
 * (`{components: [{name, version, state, pid?, restarts, health, since, reason?}]}`), or undefined.
 */
async function localComponent (agent, name) {
  const r = await request(agent.apiPort, 'GET', '/v1/components/local')
  // No such route: an agent without the component host; waiting cannot help.
  if (r.status === 404) throw new Fatal(`GET /v1/components/local: HTTP 404 (this mycel has no component host?) ${JSON.stringify(r.body)}`)
  if (r.status !== 200) throw new Error(`GET /v1/components/local: HTTP ${r.status} ${JSON.stringify(r.body)}`)
  const body = r.body
  const list = body && Array.isArray(body.components) ? body.components : []
  return list.find(c => c.name === name)
}

/** States in which the node holds the whole, verified archive (it is unpacking or running it). */
const HOLDS_ARCHIVE = new Set(['installing', 'starting', 'running'])

/** Sum of every sample of a Prometheus counter in the agent's /metrics (0 when absent). */
async function counter (agent, metric) {
  const text = await agent.get('/metrics')
  let total = 0
  for (const line of String(text).split('\n')) {
    if (line.startsWith(`${metric} `) || line.startsWith(`${metric}{`)) total += Number(line.slice(line.lastIndexOf(' ') + 1)) || 0
  }
  return total
}

/** Serves `file` at `/<basename>` on ip:port; resolves with the server once it listens. */
async function serveFile (file, ip, port) {
  const size = (await fsp.stat(file)).size
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || req.url !== `/${path.basename(file)}`) {
      res.writeHead(404).end()
      return
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': size })
    pipeline(fs.createReadStream(file), res).catch(() => {}) // a client that went away is its own failure
  })
  await new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, ip, resolve)
  })
  return server
}

/** Downloads `url` (streamed, never held whole), returns {bytes, sha256}. */
async function download (url, timeoutMs) {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) })
  if (res.status !== 200) throw new Error(`GET ${url}: HTTP ${res.status}`)
  const hash = crypto.createHash('sha256')
  let bytes = 0
  for await (const chunk of res.body) {
    hash.update(chunk)
    bytes += chunk.length
  }
  return { bytes, sha256: hash.digest('hex') }
}

/** SIGTERM to this node's instance of `name` by its process group (it leads one), if it runs; best effort. */
async function killLocal (agent, name) {
  try {
    const c = await localComponent(agent, name)
    if (c && typeof c.pid === 'number') process.kill(-c.pid, 'SIGTERM')
  } catch (_) {}
}

/**
 * After an undeploy: until `name` is gone from this node. One still running after 30 s is SIGTERMed, so a
 * run never leaves components behind; returns 1 then, else 0.
 */
async function removed (agent, name, intervalMs) {
  try {
    await poll(async () => {
      const c = await localComponent(agent, name)
      return c === undefined || c.state === 'stopped' ? true : undefined
    }, { timeoutMs: 30_000, intervalMs, what: `${name} stopped after the undeploy` })
    return 0
  } catch (_) {
    await killLocal(agent, name)
    return 1
  }
}

module.exports = { PAYLOAD, makeComponentDir, localComponent, HOLDS_ARCHIVE, counter, serveFile, download, killLocal, removed }
