// Every agent's /metrics during a testground run in namespaces (docs/performance.md, seventeenth pass), at fixed
// times after the run's first agent wrote agent.json. Start it just before the run:
//   node scripts/testground-scrape.mjs <outdir> 60,120,170 &
//   node dist/testground/runner/cli.js run testground/plans/mycel/_compositions/join-100.toml --timeout 12m
// It waits for the runner's temp dir (<tmpdir>/tg-<run id>/<instance>/mycel/agent.json, testground/runner/run.ts),
// reads each agent's admin API address there and fetches /metrics inside the instance's namespace
// (tg-<first 6 of the run id>-<instance>, testground/runner/netns.ts) with curl: the API listens on the
// namespace's 127.0.0.1. Writes <outdir>/t<seconds>/<instance>.txt. Needs root (ip netns exec) and curl.
// Sum a snapshot with: node scripts/testground-scrape.mjs --sum <outdir>/t170 '<regex of series>'.
import { readdirSync, readFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { execFile } from 'node:child_process'
import { tmpdir } from 'node:os'

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

if (process.argv[2] === '--sum') {
  const [dir, pattern = '.'] = process.argv.slice(3)
  const re = new RegExp(pattern)
  const sums = new Map()
  let agents = 0
  for (const f of readdirSync(dir)) {
    const text = readFileSync(`${dir}/${f}`, 'utf8')
    if (!text.includes('mycel_')) continue
    agents++
    for (const line of text.split('\n')) {
      if (line.startsWith('#') || line.trim() === '') continue
      const i = line.lastIndexOf(' ')
      const key = line.slice(0, i)
      const v = Number(line.slice(i + 1))
      if (re.test(key) && Number.isFinite(v)) sums.set(key, (sums.get(key) ?? 0) + v)
    }
  }
  console.log(`agents ${agents}`)
  for (const [k, v] of [...sums].sort((a, b) => b[1] - a[1])) console.log(v.toFixed(1).padStart(12), k)
  process.exit(0)
}

const [out, times] = process.argv.slice(2)
if (out === undefined || times === undefined) {
  console.error('usage: node scripts/testground-scrape.mjs <outdir> <seconds,seconds,...> | --sum <dir> [regex]')
  process.exit(2)
}
const at = times.split(',').map(Number)
if (at.some(s => !Number.isFinite(s) || s < 0)) {
  console.error(`times must be seconds >= 0, got ${times}`)
  process.exit(2)
}
// The run's temp dir is the one that appears after we start (a crashed run may have left its own behind).
const isRunDir = d => /^tg-[0-9a-f]{20}$/.test(d)
const before = new Set(readdirSync(tmpdir()).filter(isRunDir))
let root
while (root === undefined) {
  root = readdirSync(tmpdir()).find(d => isRunDir(d) && !before.has(d))
  if (root === undefined) await sleep(500)
}
const runId = root.slice(3)
const base = `${tmpdir()}/${root}`
const instances = () => { try { return readdirSync(base).filter(d => /^\d+$/.test(d)) } catch { return [] } }
let t0
while (t0 === undefined) {
  if (instances().some(d => existsSync(`${base}/${d}/mycel/agent.json`))) t0 = Date.now()
  else await sleep(200)
}
console.log(`run ${runId}, first agent.json at ${new Date(t0).toISOString()}`)
const fetchIn = (instance, api) => new Promise(resolve => {
  execFile('ip', ['netns', 'exec', `tg-${runId.slice(0, 6)}-${instance}`, 'curl', '-s', '-m', '30', `http://${api}/metrics`], { maxBuffer: 1 << 24 }, (err, stdout) => { resolve(err === null ? stdout : undefined) })
})
for (const s of at) {
  await sleep(Math.max(0, t0 + s * 1000 - Date.now()))
  const dir = `${out}/t${s}`
  mkdirSync(dir, { recursive: true })
  const jobs = []
  for (const d of instances()) {
    let api
    try { api = JSON.parse(readFileSync(`${base}/${d}/mycel/agent.json`, 'utf8')).api } catch { continue }
    jobs.push(fetchIn(d, api).then(text => { if (text !== undefined) writeFileSync(`${dir}/${d}.txt`, text) }))
  }
  await Promise.all(jobs)
  console.log(`t+${s} s: ${readdirSync(dir).length} of ${jobs.length} agents scraped, done at ${new Date().toISOString()}`)
}
