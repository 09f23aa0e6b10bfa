import { strict as assert } from 'node:assert'
import fc from 'fast-check'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { authorize, authorityOf, expandArgv, parseCommands, COMMANDS_KEY, InvalidCommandsSettingError, type AuthorityView } from '../../policy/command-policy.js'
import { POLICY_KEY_RULES } from '../../policy/key-rules.js'
import { CommandRefusedError } from '../../protocols/command/errors.js'
import { ADMINS_KEY } from '../../protocols/bft/constants.js'

const idOf = async (seed: number): Promise<string> => peerIdFromPrivateKey(await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(seed))).toString()

const refusedWith = (reason: string) => (err: unknown): boolean => err instanceof CommandRefusedError && err.reason === reason

describe('policy/command-policy: critical key `commands` and authorization', () => {
  let admin: string
  let operator: string
  let stranger: string
  let decl: string
  before(async () => {
    [admin, operator, stranger] = await Promise.all([1, 2, 3].map(idOf))
    decl = JSON.stringify({
      'disk-usage': { argv: ['/usr/bin/du', '-sh', '{path}'], params: { path: { type: 'enum', values: ['/var/lib/mycel', '/tmp'] } }, allow: [operator], timeout: '10s' },
      'tail-log': { argv: ['/usr/bin/tail', '-n', '{lines}', '{file}'], params: { lines: { type: 'int', min: 1, max: 500 }, file: { type: 'string', pattern: '/var/log/[a-z]+\\.log' } }, allow: [operator, admin] }
    })
  })

  const view = (over: Partial<AuthorityView> = {}): AuthorityView => ({ admins: new Set([admin]), commands: parseCommands(decl), isMember: () => true, ...over })

  it('is registered as a key rule and refuses declarations no node could run safely', () => {
    const rule = new Map(POLICY_KEY_RULES).get(COMMANDS_KEY)
    assert.ok(rule !== undefined)
    rule(decl, COMMANDS_KEY)
    rule(null, COMMANDS_KEY)
    const bad = (d: unknown, re: RegExp): void => { assert.throws(() => { rule(JSON.stringify(d), COMMANDS_KEY) }, (e: Error) => e instanceof InvalidCommandsSettingError && re.test(e.message), JSON.stringify(d)) }
    const allow = [operator]
    bad({ x: { argv: ['du', '{p}'], params: { p: { type: 'enum', values: ['a'] } }, allow } }, /absolute path/)
    bad({ x: { argv: ['/bin/echo', '--path={p}'], params: { p: { type: 'enum', values: ['a'] } }, allow } }, /whole element/)
    bad({ x: { argv: ['/bin/echo', '{p}'], params: {}, allow } }, /not declared/)
    bad({ x: { argv: ['/bin/echo'], params: { p: { type: 'enum', values: ['a'] } }, allow } }, /not used/)
    bad({ ping: { argv: ['/bin/echo'], allow } }, /built-in/)
    bad({ x: { argv: ['/bin/echo', '{p}'], params: { p: { type: 'string', pattern: '(a' } }, allow } }, /RE2/)
    bad({ x: { argv: ['/bin/echo', '{p}'], params: { p: { type: 'string' } }, allow } }, /pattern/)
    bad({ x: { argv: ['/bin/echo'], allow: ['not-a-peer'] } }, /peer id/)
    bad({ x: { argv: ['/bin/echo'], allow, timeout: 'forever' } }, /timeout/)
    bad({ x: { argv: ['/bin/echo', '{n}'], params: { n: { type: 'int', min: 5, max: 1 } }, allow } }, /min exceeds max/)
    // A pattern that backtracks catastrophically elsewhere is linear under RE2.
    const slow = parseCommands(JSON.stringify({ x: { argv: ['/bin/echo', '{p}'], params: { p: { type: 'string', pattern: '(a+)+$' } }, allow } })).get('x')
    assert.ok(slow !== undefined)
    const started = Date.now()
    assert.throws(() => expandArgv(slow, ['a'.repeat(1000) + '!']), refusedWith('bad_params'))
    assert.ok(Date.now() - started < 1000)
  })

  it('built-ins: ping for any member, the others for admins only; without a genesis any member', () => {
    assert.equal(authorize({ from: stranger, name: 'ping', args: [] }, view()).kind, 'builtin')
    assert.equal(authorize({ from: admin, name: 'gc', args: [] }, view()).kind, 'builtin')
    for (const name of ['gc', 'collect', 'config-reload']) {
      assert.throws(() => authorize({ from: operator, name, args: [] }, view()), refusedWith('unauthorised'), name)
    }
    assert.throws(() => authorize({ from: operator, name: 'component-restart', args: ['web'] }, view()), refusedWith('unauthorised'))
    assert.throws(() => authorize({ from: admin, name: 'component-restart', args: [] }, view()), refusedWith('bad_params'))
    assert.throws(() => authorize({ from: admin, name: 'ping', args: ['x'] }, view()), refusedWith('bad_params'))
    const open: AuthorityView = { isMember: (p) => p !== stranger }
    assert.equal(authorize({ from: operator, name: 'gc', args: [] }, open).kind, 'builtin')
    assert.throws(() => authorize({ from: stranger, name: 'ping', args: [] }, open), refusedWith('unauthorised'))
    assert.throws(() => authorize({ from: admin, name: 'disk-usage', args: ['/tmp'] }, open), refusedWith('unavailable'))
  })

  it('operator commands: declared, allowed and typed, or refused', () => {
    assert.deepEqual(authorize({ from: operator, name: 'disk-usage', args: ['/tmp'] }, view()), { kind: 'operator', name: 'disk-usage', argv: ['/usr/bin/du', '-sh', '/tmp'], timeoutMs: 10_000 })
    assert.deepEqual(authorize({ from: admin, name: 'tail-log', args: ['20', '/var/log/syslog.log'] }, view()), { kind: 'operator', name: 'tail-log', argv: ['/usr/bin/tail', '-n', '20', '/var/log/syslog.log'] })
    assert.throws(() => authorize({ from: admin, name: 'disk-usage', args: ['/tmp'] }, view()), refusedWith('unauthorised'), 'an admin not in the allow list')
    assert.throws(() => authorize({ from: operator, name: 'rm-rf', args: [] }, view()), refusedWith('undeclared'))
    assert.throws(() => authorize({ from: operator, name: 'disk-usage', args: ['/etc'] }, view()), refusedWith('bad_params'))
    assert.throws(() => authorize({ from: operator, name: 'disk-usage', args: [] }, view()), refusedWith('bad_params'))
    assert.throws(() => authorize({ from: operator, name: 'tail-log', args: ['501', '/var/log/a.log'] }, view()), refusedWith('bad_params'))
    assert.throws(() => authorize({ from: operator, name: 'tail-log', args: ['1e2', '/var/log/a.log'] }, view()), refusedWith('bad_params'))
    assert.throws(() => authorize({ from: operator, name: 'tail-log', args: ['5', '/var/log/a.log; rm -rf /'] }, view()), refusedWith('bad_params'), 'the pattern is anchored')
    assert.throws(() => authorize({ from: operator, name: 'tail-log', args: ['5', '/etc/passwd\n/var/log/a.log'] }, view()), refusedWith('bad_params'))
  })

  it('reads admins and commands from critical config; an unreadable committed value declares nothing and says why', () => {
    const critical = (kv: Record<string, string>): { get: (k: string) => { key: string, value: string, height: number, certificate: null } | undefined } =>
      ({ get: (k) => kv[k] === undefined ? undefined : { key: k, value: kv[k] as string, height: 1, certificate: null } })
    const v = authorityOf(critical({ [ADMINS_KEY]: JSON.stringify([admin]), [COMMANDS_KEY]: decl }), () => true)
    assert.deepEqual([...v.admins ?? []], [admin])
    assert.deepEqual([...v.commands?.keys() ?? []], ['disk-usage', 'tail-log'])
    const broken = authorityOf(critical({ [ADMINS_KEY]: JSON.stringify([admin]), [COMMANDS_KEY]: '{"x": 1}' }), () => true)
    assert.equal(broken.commands?.size, 0)
    assert.throws(() => authorize({ from: admin, name: 'x', args: [] }, broken), (e: Error) => e instanceof CommandRefusedError && /cannot be read/.test(e.message))
    assert.equal(authorityOf(undefined, () => true).commands, undefined)
  })

  it('property: a parameter fills exactly its own argv element, whatever its value; values outside the type are refused', () => {
    const cmd = parseCommands(JSON.stringify({
      x: { argv: ['/bin/echo', 'a', '{s}', '--', '{n}', '{e}'], params: { s: { type: 'string', pattern: '[\\s\\S]{0,64}' }, n: { type: 'int', min: -5, max: 5 }, e: { type: 'enum', values: ['one', 'two words', '$(x)'] } }, allow: [admin] }
    })).get('x')
    assert.ok(cmd !== undefined)
    fc.assert(fc.property(
      fc.string({ maxLength: 64, unit: 'binary' }).filter(s => !s.includes('\0')),
      fc.integer({ min: -5, max: 5 }),
      fc.constantFrom('one', 'two words', '$(x)'),
      (s, n, e) => {
        const argv = expandArgv(cmd, [s, String(n), e])
        assert.deepEqual(argv, ['/bin/echo', 'a', s, '--', String(n), e])
      }))
    fc.assert(fc.property(fc.string({ maxLength: 20 }), (junk) => {
      // Outside the int type (not a plain integer in range) or the enum: refused, never run.
      if (!/^-?(0|[1-9][0-9]*)$/.test(junk) || Math.abs(Number(junk)) > 5) {
        assert.throws(() => expandArgv(cmd, ['ok', junk, 'one']), refusedWith('bad_params'))
      }
      if (!['one', 'two words', '$(x)'].includes(junk)) assert.throws(() => expandArgv(cmd, ['ok', '1', junk]), refusedWith('bad_params'))
    }))
    fc.assert(fc.property(fc.array(fc.string(), { maxLength: 6 }).filter(a => a.length !== 3), (args) => {
      assert.throws(() => expandArgv(cmd, args), refusedWith('bad_params'))
    }))
  })
})
