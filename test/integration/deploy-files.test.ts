/**
 * Every file under deploy/ is loaded exactly as shipped, the way the README's
 * install walk-through installs it: the YAML through the real config loader,
 * the systemd unit's ExecStart through the built CLI's real parser (with
 * `--check`, which validates without starting), the unit and the
 * components' slice (named as host/systemd-scope.ts names it) through
 * `systemd-analyze verify` (.ci/run installs systemd). A file nobody checks
 * fails the test.
 */
import { expect } from 'chai'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { defaults, readConfigFile, resolveConfig } from '../../daemon/config.js'
import { CLI } from '../../harness/agent-process.js'
import { COMPONENT_SLICE } from '../../host/systemd-scope.js'
import { dataDirOf } from '../../launcher/args.js'

const DEPLOY = resolve('deploy')

/**
 * deploy/ folders that are not host install files, and the test that loads
 * them as shipped: Prometheus's config and rules and the Grafana dashboard
 * (through promtool and against a real agent's /metrics), mycel's own alert
 * and inhibit rules (through the rule parser and promtool).
 */
const CHECKED_ELSEWHERE: Record<string, string> = {
  prometheus: 'test/integration/prometheus-deploy.test.ts',
  grafana: 'test/integration/prometheus-deploy.test.ts',
  mycel: 'test/managers/monitoring/rule-file.test.ts'
}

/** `sudo install ... deploy/FILE DEST` lines of the README's install walk-through: DEST → shipped file. */
async function installedBy (): Promise<Map<string, string>> {
  const readme = await readFile('README.md', 'utf8')
  const section = readme.slice(readme.indexOf('## Install on a real host'))
  const block = section.slice(section.indexOf('```sh'), section.indexOf('```', section.indexOf('```sh') + 5))
  const map = new Map<string, string>()
  for (const m of block.matchAll(/^sudo install\b.*\s(deploy\/\S+)\s+(\/\S+)/gm)) map.set(m[2], resolve(m[1]))
  return map
}

/** systemd's own checker (.ci/run installs it): it warns (unknown keys, bad values) on stderr with exit 0, so both must be clean. */
function verifyUnits (paths: string[]): void {
  const v = spawnSync('systemd-analyze', ['verify', ...paths], { encoding: 'utf8' })
  expect(v.error, 'systemd-analyze is needed (Debian package systemd)').to.equal(undefined)
  expect(v.status, v.stderr).to.equal(0)
  expect(v.stderr.trim()).to.equal('')
}

/** `Key=Value` lines of a unit file (comments and sections dropped). */
function unitKeys (text: string): Map<string, string> {
  const keys = new Map<string, string>()
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line.trim())
    if (m !== null) keys.set(m[1], m[2])
  }
  return keys
}

function hasUser (name: string): boolean {
  try { return readFileSync('/etc/passwd', 'utf8').split('\n').some(l => l.split(':')[0] === name) } catch { return false }
}

describe('deploy/ files as shipped', function () {
  this.timeout(60_000)
  let tmp: string
  before(async () => { tmp = await mkdtemp(join(tmpdir(), 'mycel-deploy-')) })
  after(async () => { await rm(tmp, { recursive: true, force: true }) })

  it('the README installs every file under deploy/; the monitoring folders are checked by their own tests', async () => {
    const entries = await readdir(DEPLOY)
    const shipped = entries.filter(f => CHECKED_ELSEWHERE[f] === undefined).map(f => join(DEPLOY, f)).sort()
    const installed = [...(await installedBy()).values()].sort()
    expect(installed).to.deep.equal(shipped)
    // A folder said to be checked elsewhere is named by that test, and still exists.
    for (const [dir, test] of Object.entries(CHECKED_ELSEWHERE)) {
      expect(entries, `deploy/${dir}`).to.include(dir)
      expect(await readFile(test, 'utf8'), `${test} checks deploy/${dir}`).to.include(`deploy/${dir}`)
    }
  })

  it('deploy/mycel.yaml loads through the real config loader', async () => {
    const file = await readConfigFile(join(DEPLOY, 'mycel.yaml'))
    const cfg = resolveConfig(defaults(), file)
    expect(cfg.region).to.equal('default')
    expect(cfg.bootstrap).to.deep.equal([])
    expect(cfg.listen).to.deep.equal(['/ip4/0.0.0.0/tcp/4100'])
    expect(cfg.api).to.equal('127.0.0.1:8900')
    // Any local user reaches a loopback port: the shipped config requires the admin API token.
    expect(cfg.apiAuth).to.equal('token')
  })

  it('deploy/mycel.service: ExecStart parses with the real CLI and its config checks out; systemd accepts the unit', async () => {
    const unitPath = join(DEPLOY, 'mycel.service')
    const unit = unitKeys(await readFile(unitPath, 'utf8'))
    const pkg = JSON.parse(await readFile('package.json', 'utf8')) as { bin: Record<string, string> }
    const argv = (unit.get('ExecStart') ?? '').split(/\s+/)
    // `/usr/bin/env mycel-launcher ...`: the package's own bin, found on PATH; it runs `mycel agent <the rest>`.
    expect(argv[0]).to.equal('/usr/bin/env')
    expect(pkg.bin[argv[1]]).to.equal('dist/launcher/main.js')
    // Installed paths → the shipped files; the data dir → a scratch dir.
    const installs = await installedBy()
    const dataDir = unit.get('ReadWritePaths')
    expect(dataDir).to.be.a('string')
    const args = argv.slice(2).map(a => installs.get(a) ?? (a === dataDir ? join(tmp, 'data') : a))
    expect(args).to.include(join(tmp, 'data'), 'ExecStart --data-dir is the unit\'s writable path')
    // The launcher reads --data-dir from the command line (it keeps its state there).
    expect(dataDirOf(args)).to.equal(join(tmp, 'data'))
    args.unshift('agent')
    let r = spawnSync(process.execPath, [CLI, ...args, '--check'], { encoding: 'utf8', timeout: 30_000 })
    // The shipped config runs components as the README's `mycel` user; where that user was not created (this
    // test's machine, usually), the check refuses with one line naming the key, exit 2, as on a real host.
    if (!hasUser('mycel')) {
      expect(r.status, r.stderr).to.equal(2)
      expect(r.stderr).to.match(/^mycel: componentUser "mycel": .*\n$/)
      // The rest of the config, with a user this machine has.
      r = spawnSync(process.execPath, [CLI, ...args, '--component-user', 'nobody', '--check'], { encoding: 'utf8', timeout: 30_000 })
    }
    expect(r.status, r.stderr).to.equal(0)
    const resolved = JSON.parse(r.stdout) as { dataDir: string, region: string, apiAuth: string }
    expect(resolved.dataDir).to.equal(join(tmp, 'data'))
    expect(resolved.region).to.equal('default')
    expect(resolved.apiAuth).to.equal('token')
    // The agent runs as root (it creates the components' scopes and runs them as the README's `mycel` user),
    // keeps its state where ExecStart points, and does not restart in a loop on a configuration error (exit 2).
    expect(unit.get('User')).to.equal('root')
    expect(unit.get('StateDirectory')).to.equal('mycel')
    expect(dataDir).to.equal('/var/lib/mycel')
    expect(unit.get('RestartPreventExitStatus')).to.equal('2')
    // Components survive a restart of the unit by living in their own scopes, not by leaving the unit's
    // processes unkilled; and no private /tmp, which systemd deletes at stop under components that outlive it.
    expect(unit.get('KillMode')).to.equal('control-group')
    expect(unit.has('PrivateTmp')).to.equal(false)
    const copy = join(tmp, 'mycel.service')
    await writeFile(copy, await readFile(unitPath))
    verifyUnits([copy])
  })

  it('deploy/mycel-components.slice: the slice the host puts component scopes in, accepted by systemd', async () => {
    const slicePath = join(DEPLOY, COMPONENT_SLICE)
    const text = await readFile(slicePath, 'utf8')
    expect(text).to.match(/^\[Slice\]$/m)
    expect((await installedBy()).get(`/etc/systemd/system/${COMPONENT_SLICE}`)).to.equal(slicePath)
    const copy = join(tmp, COMPONENT_SLICE)
    await writeFile(copy, text)
    const unit = join(tmp, 'mycel.service')
    await writeFile(unit, await readFile(join(DEPLOY, 'mycel.service')))
    verifyUnits([copy, unit])
  })
})
