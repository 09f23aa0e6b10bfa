/**
 * host/systemd-scope.ts: the systemd-run command lines built for a
 * component, and which strategy an agent picks. (systemd is not PID 1 on
 * the test machines, so no scope is created here; the integration test
 * runs the built command through a stand-in systemd-run that execs its
 * command the way the real one does.)
 */
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { chooseStrategy, COMPONENT_SLICE, escapeUnitPart, scopeCommand, scopeUnitName } from '../../host/systemd-scope.js'

const spec = { argv: ['/opt/web/bin/web', '--port', '8080'], cwd: '/srv/web', env: {}, logFd: 3, name: 'web@1' }

describe('host/systemd-scope', () => {
  it('the command: a collected scope in the components slice, then exactly the component argv after --', () => {
    const c = scopeCommand(spec, { systemdRun: '/usr/bin/systemd-run' }, 1_700_000_000_000)
    assert.deepEqual(c.argv, [
      '/usr/bin/systemd-run', '--scope', '--quiet', '--collect',
      `--unit=mycel-web\\x401-${(1_700_000_000_000).toString(36)}.scope`,
      `--slice=${COMPONENT_SLICE}`,
      '--description=mycel component web@1',
      '--',
      '/opt/web/bin/web', '--port', '8080'
    ])
    assert.equal(c.uid, undefined)
    assert.equal(c.gid, undefined)
  })

  it('with a user: systemd-run switches to it after creating the scope; the spawn keeps root but drops supplementary groups (gid given)', () => {
    const c = scopeCommand({ ...spec, user: { uid: 998, gid: 997 } }, { systemdRun: '/bin/systemd-run', slice: 'other.slice' }, 1)
    const dash = c.argv.indexOf('--')
    assert.deepEqual(c.argv.slice(dash - 2, dash), ['--uid=998', '--gid=997'])
    assert.ok(c.argv.includes('--slice=other.slice'))
    assert.deepEqual({ uid: c.uid, gid: c.gid }, { uid: 0, gid: 0 })
  })

  it('unit names: only [A-Za-z0-9:_.-] survive unescaped, and every instance id gives a distinct valid name', () => {
    assert.equal(escapeUnitPart('a@b c'), 'a\\x40b\\x20c')
    // '@' weighs heavily: each one escapes to four characters.
    const idArb = fc.array(fc.constantFrom('@', '@', '@', 'a', 'z', '0', '.', '_', '-'), { minLength: 1, maxLength: 128 }).map(cs => cs.join(''))
    assert.ok(scopeUnitName('@'.repeat(128), Number.MAX_SAFE_INTEGER).length <= 255)
    fc.assert(fc.property(idArb, idArb, fc.nat(), (a, b, t) => {
      const n = scopeUnitName(a, t)
      assert.match(n, /^mycel-[A-Za-z0-9:_.\\-]+\.scope$/)
      assert.ok(n.length <= 255, 'systemd unit names are at most 255 characters')
      if (a !== b) assert.notEqual(n, scopeUnitName(b, t))
    }))
    assert.notEqual(scopeUnitName('web', 1000), scopeUnitName('web', 1001), 'each start gets a new scope')
  })

  it('strategy: systemd-scope only when started by systemd, as root, with systemd-run installed', () => {
    const has = (p: string): boolean => p === '/usr/bin/systemd-run'
    const none = (): boolean => false
    assert.deepEqual(chooseStrategy({ INVOCATION_ID: 'abc' }, 0, has), { strategy: 'systemd-scope', systemdRun: '/usr/bin/systemd-run', reason: `each component in its own scope in ${COMPONENT_SLICE}` })
    assert.equal(chooseStrategy({}, 0, has).strategy, 'group')
    assert.equal(chooseStrategy({ INVOCATION_ID: '' }, 0, has).strategy, 'group')
    const notRoot = chooseStrategy({ INVOCATION_ID: 'abc' }, 998, has)
    assert.equal(notRoot.strategy, 'group')
    assert.match(notRoot.reason, /not root/)
    assert.match(chooseStrategy({ INVOCATION_ID: 'abc' }, 0, none).reason, /systemd-run not found/)
  })
})
