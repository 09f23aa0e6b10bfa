'use strict'
/**
 * One mycel daemon per instance, run the way it runs on a host: the `mycel` CLI as a child process
 * (`mycel init`, then `mycel agent`), talked to over its admin API on the instance's loopback.
 *
 * Where the CLI comes from, in order:
 *   1. MYCEL_CLI: a path to dist/daemon/cli.js (the local runner sets it to this repo's build);
 *   2. the `mycel` package, if the plan's node_modules has it;
 *   3. `mycel` on PATH (the docker:node base image installs it; see docs/testground.md).
 */
const { spawn, execFile } = require('child_process')
const fs = require('fs')
const fsp = require('fs/promises')
const path = require('path')
const http = require('http')
const { sleep, poll, Fatal } = require('./util')

function resolveCli () {
  const env = process.env.MYCEL_CLI
  if (env && fs.existsSync(env)) return [process.execPath, ...nodeFlagsOf(env), env]
  let file
  try {
    file = require.resolve('mycel/dist/daemon/cli.js')
  } catch (_) {
    return ['mycel']
  }
  return [process.execPath, ...nodeFlagsOf(file), file]
}

/**
 * The node flags of the CLI's `#!` line (`#!/usr/bin/env -S node --flag …`, `#!/usr/bin/node --flag`): started
 * with this node rather than through the line, the agent still gets the flags a user's `mycel` runs with (V8
 * heap sizes). The same rules as harness/node-command.ts `parseShebang`, less the `NAME=value` assignments
 * before node, which our bin does not use. A line that runs something other than node is an error: starting
 * the file with node would not be what a user gets.
 */
function nodeFlagsOf (file) {
  const fd = fs.openSync(file, 'r')
  let first
  try {
    const head = Buffer.alloc(1024)
    first = head.subarray(0, fs.readSync(fd, head, 0, head.length, 0)).toString('utf8').split('\n', 1)[0]
  } finally {
    fs.closeSync(fd)
  }
  if (!first.startsWith('#!')) return []
  const words = first.slice(2).trim().split(/\s+/).filter(w => w !== '')
  let i = 0
  if (path.basename(words[0] || '') === 'env') {
    i = 1
    if (words[i] === '-S') i++
    else if (words[i] !== undefined && words[i].startsWith('-S')) words[i] = words[i].slice(2)
    while (words[i] !== undefined && /^[A-Za-z_][A-Za-z0-9_]*=/.test(words[i])) i++
  }
  const interpreter = path.basename(words[i] || '')
  if (interpreter !== 'node' && interpreter !== 'nodejs') throw new Error(`${file}: its #! line runs ${words[i]}, not node`)
  return words.slice(i + 1)
}

function runCli (args, timeoutMs = 120000) {
  const [cmd, ...pre] = resolveCli()
  return new Promise((resolve, reject) => {
    execFile(cmd, [...pre, ...args], { timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err) reject(new Error(`mycel ${args[0]} failed${err.killed ? ` (killed after ${timeoutMs} ms)` : ''}: ${err.message.trim()} ${stderr.trim()}`))
      else resolve(stdout)
    })
  })
}

function request (port, method, urlPath, body, timeoutMs = 10000) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body))
    const req = http.request({
      host: '127.0.0.1', port, method, path: urlPath, timeout: timeoutMs,
      headers: data ? { 'content-type': 'application/json', 'content-length': data.length } : {}
    }, res => {
      const chunks = []
      res.on('data', c => chunks.push(c))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString()
        let json
        try { json = text === '' ? undefined : JSON.parse(text) } catch (_) { json = text }
        resolve({ status: res.statusCode, body: json })
      })
    })
    req.on('timeout', () => req.destroy(new Error(`${method} ${urlPath}: timeout`)))
    req.on('error', reject)
    if (data) req.write(data)
    req.end()
  })
}

class MycelAgent {
  /**
   * @param {object} o
   * @param {string} o.dataDir
   * @param {string} o.listenIp  address to listen on (the data-network IP, or 127.0.0.1)
   * @param {number} o.port      libp2p TCP port (0 = any; needed on shared loopback)
   * @param {string} o.profile   lan | wan | test
   * @param {string} o.logLevel
   * @param {string} o.region
   * @param {string} o.logFile   where the agent's stdout/stderr go (in the instance outputs)
   * @param {string[]} [o.extraArgs] more `mycel agent` flags (e.g. `--publisher ID`)
   */
  constructor (o) {
    this.o = o
    this.child = null
    this.exited = null
    this.peerId = null
    this.apiPort = null
    this.addrs = []
    process.on('exit', () => { if (this.child) try { this.child.kill('SIGKILL') } catch (_) {} })
  }

  async init () {
    await fsp.mkdir(this.o.dataDir, { recursive: true })
    const out = await runCli(['init', '--data-dir', this.o.dataDir, '--json'])
    this.peerId = JSON.parse(out).peerId
    return this.peerId
  }

  /** Starts the agent and resolves once it wrote agent.json (libp2p and the API are up). */
  async start (bootstrap, timeoutMs = 60000) {
    if (this.child) throw new Error('agent already running')
    const info = path.join(this.o.dataDir, 'agent.json')
    await fsp.rm(info, { force: true })
    const [cmd, ...pre] = resolveCli()
    const args = [...pre, 'agent',
      '--data-dir', this.o.dataDir,
      '--listen', `/ip4/${this.o.listenIp}/tcp/${this.o.port}`,
      // libp2p withholds unverified public addresses (testground's 16.0.0.0/16 data subnet is public
      // address space); announcing the data address makes it the one peers learn.
      ...(this.o.port !== 0 ? ['--announce', `/ip4/${this.o.listenIp}/tcp/${this.o.port}`] : []),
      '--api', '127.0.0.1:0',
      '--region', this.o.region,
      '--profile', this.o.profile,
      '--log-level', this.o.logLevel,
      ...(this.o.extraArgs || [])]
    for (const b of bootstrap) args.push('--bootstrap', b)
    const log = fs.openSync(this.o.logFile, 'a')
    const child = spawn(cmd, args, { stdio: ['ignore', log, log] })
    fs.closeSync(log)
    this.child = child
    this.exited = new Promise(resolve => child.once('exit', (code, signal) => resolve({ code, signal })))
    this.exited.then(() => { if (this.child === child) this.child = null })
    this.spawnedAt = Date.now()
    const status = await poll(async () => {
      if (this.child !== child) throw new Fatal(`mycel agent exited during start; see ${this.o.logFile}`)
      try {
        const s = JSON.parse(await fsp.readFile(info, 'utf8'))
        return s.pid === child.pid ? s : undefined
      } catch (_) { return undefined }
    }, { timeoutMs, intervalMs: 100, what: 'mycel agent start (agent.json)' })
    this.apiPort = Number(status.api.split(':').pop())
    this.addrs = status.addrs
    this.peerId = status.peerId
    return status
  }

  /** The address other instances dial: our data-network address with /p2p/<id>. */
  dialAddr () {
    const a = this.addrs.find(x => x.startsWith(`/ip4/${this.o.listenIp}/`)) || this.addrs[0]
    if (!a) throw new Error(`agent reported no listen address (see ${this.o.logFile})`)
    return a.includes('/p2p/') ? a : `${a}/p2p/${this.peerId}`
  }

  get running () { return this.child !== null }

  async get (urlPath) {
    const r = await request(this.apiPort, 'GET', urlPath)
    if (r.status !== 200) throw new Error(`GET ${urlPath}: HTTP ${r.status} ${JSON.stringify(r.body)}`)
    return r.body
  }

  async put (urlPath, body) {
    return request(this.apiPort, 'PUT', urlPath, body)
  }

  async del (urlPath) {
    return request(this.apiPort, 'DELETE', urlPath)
  }

  async members () { return this.get('/v1/members') }

  /**
   * Saves what the agent knows (status, members, Prometheus metrics) into `dir`, for post-mortems of a
   * failed invariant. Best effort: an unresponsive agent leaves a note instead.
   */
  async dumpDiagnostics (dir) {
    const save = async (file, urlPath) => {
      try {
        const r = await request(this.apiPort, 'GET', urlPath, undefined, 15000)
        await fsp.writeFile(path.join(dir, file), typeof r.body === 'string' ? r.body : JSON.stringify(r.body, null, 2))
      } catch (err) {
        await fsp.writeFile(path.join(dir, file), `unavailable: ${err.message}\n`).catch(() => {})
      }
    }
    if (!this.child || !dir) return
    await save('agent-status.json', '/v1/status')
    await save('agent-members.json', '/v1/members')
    await save('agent-metrics.txt', '/metrics')
  }

  /** Graceful stop (SIGTERM: the agent announces leave); SIGKILL after `graceMs`. */
  async stop (graceMs = 10000) {
    const child = this.child
    if (!child) return
    child.kill('SIGTERM')
    const done = await Promise.race([this.exited, sleep(graceMs).then(() => null)])
    if (done === null) {
      child.kill('SIGKILL')
      await this.exited
    }
  }

  /** Crash: SIGKILL, no leave; its TCP connections close at once. */
  async kill () {
    const child = this.child
    if (!child) return
    child.kill('SIGKILL')
    await this.exited
  }
}

module.exports = { MycelAgent, resolveCli, runCli, request }
