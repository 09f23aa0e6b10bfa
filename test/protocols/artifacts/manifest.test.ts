/** The component manifest schema: every key checked, every refusal names its key. */
import { expect } from 'chai'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { healthTimings, parseDuration, parseManifest, readManifest, resolveArgv } from '../../../protocols/artifacts/manifest.js'

const EXAMPLE = `name: web-probe
version: 1.2.0
entry: ["/bin/sh", "run.sh"]
env: { LOG_LEVEL: info }
health:
  exec: ["/bin/sh", "check.sh"]
  interval: 2s
  timeout: 1s
  failureThreshold: 3
requires: { mycel: ">=0.2.0" }
`

function refusal (text: string): string {
  try {
    parseManifest(text)
  } catch (err) {
    expect((err as Error).name).to.equal('InvalidManifestError')
    return (err as Error).message
  }
  throw new Error('accepted')
}

describe('component manifest', () => {
  it('reads the example of the issue', () => {
    expect(parseManifest(EXAMPLE)).to.deep.equal({
      name: 'web-probe',
      version: '1.2.0',
      entry: ['/bin/sh', 'run.sh'],
      env: { LOG_LEVEL: 'info' },
      health: { exec: ['/bin/sh', 'check.sh'], interval: '2s', timeout: '1s', failureThreshold: 3 },
      requires: { mycel: '>=0.2.0' }
    })
  })

  it('needs only name, version and entry; health timings default', () => {
    const m = parseManifest('name: a\nversion: 0.0.1\nentry: [./run]\nhealth: { tcp: "127.0.0.1:8080" }\n')
    expect(m).to.deep.equal({ name: 'a', version: '0.0.1', entry: ['./run'], health: { tcp: '127.0.0.1:8080' } })
    expect(healthTimings(m.health ?? {})).to.deep.equal({ intervalMs: 10_000, timeoutMs: 2_000, failureThreshold: 3 })
  })

  const cases: Array<[string, string, RegExp]> = [
    ['an upper-case name', EXAMPLE.replace('web-probe', 'Web-Probe'), /"name"/],
    ['a name with a dot', EXAMPLE.replace('web-probe', 'web.probe'), /"name"/],
    ['a name ending in -', EXAMPLE.replace('web-probe', 'web-'), /"name"/],
    ['a name of 65 characters', EXAMPLE.replace('web-probe', 'a'.repeat(65)), /"name"/],
    ['a version that is not semver', EXAMPLE.replace('1.2.0', '"1.2"'), /"version".*semantic version/],
    ['a version YAML reads as a number', EXAMPLE.replace('1.2.0', '1.2'), /"version".*quote/],
    ['a non-canonical semver', EXAMPLE.replace('1.2.0', 'v1.2.0'), /"version"/],
    ['an empty entry', EXAMPLE.replace('["/bin/sh", "run.sh"]', '[]'), /"entry"/],
    ['an entry escaping by ..', EXAMPLE.replace('"run.sh"', '"../run.sh"'), /"entry.1".*\.\./],
    ['an entry program escaping by ..', EXAMPLE.replace('["/bin/sh", "run.sh"]', '["bin/../../x"]'), /"entry.0"/],
    ['an empty argument', EXAMPLE.replace('"run.sh"', '""'), /"entry.1"/],
    ['an env name that is not an identifier', EXAMPLE.replace('LOG_LEVEL', '"LOG-LEVEL"'), /"env.LOG-LEVEL"/],
    ['an env name of the host', EXAMPLE.replace('LOG_LEVEL', 'MYCEL_DATA_DIR'), /"env.MYCEL_DATA_DIR".*host/],
    ['an env value that is not a string', EXAMPLE.replace('info', '3'), /"env.LOG_LEVEL"/],
    ['two health probes', EXAMPLE.replace('  interval: 2s', '  tcp: "localhost:80"\n  interval: 2s'), /"health".*exactly one.*exec and tcp/],
    ['no health probe', EXAMPLE.replace('  exec: ["/bin/sh", "check.sh"]\n', ''), /"health".*exactly one.*none/],
    ['an http probe that is not a URL', EXAMPLE.replace('exec: ["/bin/sh", "check.sh"]', 'http: "localhost:80/health"'), /"health.http"/],
    ['a tcp probe without a port', EXAMPLE.replace('exec: ["/bin/sh", "check.sh"]', 'tcp: localhost'), /"health.tcp"/],
    ['a tcp port out of range', EXAMPLE.replace('exec: ["/bin/sh", "check.sh"]', 'tcp: "localhost:70000"'), /"health.tcp".*range/],
    ['an interval without a unit', EXAMPLE.replace('interval: 2s', 'interval: "2"'), /"health.interval".*duration/],
    ['an interval below a second', EXAMPLE.replace('interval: 2s', 'interval: 10ms').replace('timeout: 1s', 'timeout: 5ms'), /"health.interval"/],
    ['a timeout longer than the interval', EXAMPLE.replace('timeout: 1s', 'timeout: 3s'), /"health.timeout".*interval/],
    ['a failure threshold of 0', EXAMPLE.replace('failureThreshold: 3', 'failureThreshold: 0'), /"health.failureThreshold"/],
    ['a fractional failure threshold', EXAMPLE.replace('failureThreshold: 3', 'failureThreshold: 1.5'), /"health.failureThreshold"/],
    ['a requirement that is not a range', EXAMPLE.replace('>=0.2.0', 'soon'), /"requires.mycel".*range/],
    ['a requirement on a bad name', EXAMPLE.replace('mycel:', 'Other_Thing:'), /"requires.Other_Thing"/],
    ['a component requiring itself', EXAMPLE.replace('mycel:', 'web-probe:'), /"requires.web-probe".*itself/],
    ['an unknown top-level key', `${EXAMPLE}entrypoint: [x]\n`, /unknown key "entrypoint"/],
    ['an unknown key in health', EXAMPLE.replace('  interval: 2s', '  intervall: 2s'), /unknown key "health.intervall"/],
    ['a missing name', EXAMPLE.replace('name: web-probe\n', ''), /"name"/],
    ['a list instead of a mapping', '- name: a\n', /expected a mapping/],
    ['YAML that does not parse', 'name: [a\n', /not valid YAML/],
    ['a duplicated key', `${EXAMPLE}name: other\n`, /not valid YAML/]
  ]
  for (const [what, text, message] of cases) {
    it(`refuses ${what}, naming the key`, () => {
      expect(refusal(text)).to.match(message)
    })
  }

  it('accepts requirements on other components, and http probes', () => {
    const m = parseManifest(EXAMPLE.replace('mycel: ">=0.2.0"', 'mycel: ">=0.2.0 <1", db: "^2.1.0"').replace('exec: ["/bin/sh", "check.sh"]', 'http: "http://127.0.0.1:8080/healthz"'))
    expect(m.requires).to.deep.equal({ mycel: '>=0.2.0 <1', db: '^2.1.0' })
    expect(m.health?.http).to.equal('http://127.0.0.1:8080/healthz')
  })

  it('reads durations', () => {
    expect([parseDuration('500ms'), parseDuration('2s'), parseDuration('5m'), parseDuration('1h')]).to.deep.equal([500, 2_000, 300_000, 3_600_000])
    expect([parseDuration('2'), parseDuration('1.5s'), parseDuration('-1s'), parseDuration('2 s')]).to.deep.equal([undefined, undefined, undefined, undefined])
  })

  it('reads the file from a component directory, naming it in errors', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mycel-manifest-'))
    try {
      await writeFile(join(dir, 'mycel.component.yaml'), EXAMPLE)
      expect((await readManifest(dir)).name).to.equal('web-probe')
      await writeFile(join(dir, 'mycel.component.yaml'), EXAMPLE.replace('1.2.0', 'x'))
      let message = ''
      await readManifest(dir).catch((err: Error) => { message = err.message })
      expect(message).to.contain(join(dir, 'mycel.component.yaml')).and.match(/"version"/)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('resolves a relative program inside the component directory, and nothing else', () => {
    expect(resolveArgv(['./run', 'a'], '/c/web/1.0.0')).to.deep.equal(['/c/web/1.0.0/run', 'a'])
    expect(resolveArgv(['bin/server'], '/c/web/1.0.0')).to.deep.equal(['/c/web/1.0.0/bin/server'])
    expect(resolveArgv(['sh', 'run.sh'], '/c/web/1.0.0')).to.deep.equal(['sh', 'run.sh'])
    expect(resolveArgv(['/bin/sh'], '/c/web/1.0.0')).to.deep.equal(['/bin/sh'])
    expect(() => resolveArgv(['x/../../../bin/sh'], '/c/web/1.0.0')).to.throw().with.property('name', 'InvalidManifestError')
  })
})
