import { strict as assert } from 'node:assert'
import fc from 'fast-check'
import { fingerprint, formatMatcher, matcherSchema, matches, MatcherParseError, parseMatcher, parseMatchers } from '../../../managers/monitoring/matchers.js'
import type { Matcher } from '../../../managers/monitoring/types.js'

describe('managers/monitoring/matchers', () => {
  it('parses the four operators, quoted and bare, with Alertmanager escapes', () => {
    const table: Array<[string, Matcher]> = [
      ['alertname=MemberDown', { name: 'alertname', type: '=', value: 'MemberDown' }],
      ['severity!="warning"', { name: 'severity', type: '!=', value: 'warning' }],
      ['instance=~"node-[0-9]+"', { name: 'instance', type: '=~', value: 'node-[0-9]+' }],
      ['job!~api|web', { name: 'job', type: '!~', value: 'api|web' }],
      ['  peer = "a b"  ', { name: 'peer', type: '=', value: 'a b' }],
      ['x="say \\"hi\\""', { name: 'x', type: '=', value: 'say "hi"' }],
      ['x="a\\\\b\\nc"', { name: 'x', type: '=', value: 'a\\b\nc' }],
      ['x=~"\\d+\\.\\d+"', { name: 'x', type: '=~', value: '\\d+\\.\\d+' }],
      ['x=', { name: 'x', type: '=', value: '' }],
      ['x=""', { name: 'x', type: '=', value: '' }],
      ['a:b_c=1', { name: 'a:b_c', type: '=', value: '1' }]
    ]
    for (const [text, want] of table) assert.deepEqual(parseMatcher(text), want, text)
  })

  it('refuses bad text with one named error and a one-line message', () => {
    for (const text of ['', 'novalue', '1x=a', 'x=="a"', 'x="a', 'x=a"b', 'x="a"b"', 'x=~"("', 'x=~"(a)\\1"', 'x=~"(?=a)"', 'x=~"(a+)+b"', 'x=~"' + 'a'.repeat(1025) + '"']) {
      assert.throws(() => parseMatcher(text), (err: unknown) => {
        assert.ok(err instanceof MatcherParseError, text)
        assert.equal(err.name, 'MatcherParseError')
        assert.equal(err.status, 400)
        assert.ok(!err.message.includes('\n'), err.message)
        assert.ok(err.message.startsWith('bad matcher '), err.message)
        return true
      })
    }
  })

  it('parses lists: repeated texts, braces and commas (not inside quotes)', () => {
    assert.deepEqual(parseMatchers(['a=1', 'b!=2']), [{ name: 'a', type: '=', value: '1' }, { name: 'b', type: '!=', value: '2' }])
    assert.deepEqual(parseMatchers('{a="x,y", b=~"p|q"}'), [{ name: 'a', type: '=', value: 'x,y' }, { name: 'b', type: '=~', value: 'p|q' }])
    assert.deepEqual(parseMatchers('{a="q\\",", b=1}'), [{ name: 'a', type: '=', value: 'q",' }, { name: 'b', type: '=', value: '1' }])
    assert.deepEqual(parseMatchers('{}'), [])
  })

  it('formatMatcher reads back equal (property)', () => {
    fc.assert(fc.property(
      fc.stringMatching(/^[a-zA-Z_:][a-zA-Z0-9_:]{0,10}$/),
      fc.constantFrom<Matcher['type']>('=', '!='),
      fc.string({ maxLength: 20 }),
      (name, type, value) => {
        const m = { name, type, value }
        assert.deepEqual(parseMatcher(formatMatcher(m)), m)
      }))
  })

  it('matches with anchored regexes; a missing label is the empty string', () => {
    const labels = { alertname: 'DiskFull', instance: 'node-12', severity: 'critical' }
    const yes = (t: string): boolean => matches(parseMatchers(t), labels)
    assert.equal(yes('instance=~"node-1"'), false, 'anchored: a prefix does not match')
    assert.equal(yes('instance=~"node-1.*"'), true)
    assert.equal(yes('instance=~"ode-12"'), false, 'anchored at the start too')
    assert.equal(yes('instance=~"node-12|x"'), true, 'alternation inside the anchors')
    assert.equal(yes('instance!~"node-.*"'), false)
    assert.equal(yes('severity!=warning'), true)
    assert.equal(yes('team=""'), true, 'missing label matches the empty value')
    assert.equal(yes('team!=""'), false)
    assert.equal(yes('team=~".*"'), true)
    assert.equal(yes('severity=~"(?i)CRIT.*"'), true, 'RE2 case-insensitive flag')
    assert.equal(yes('{alertname=DiskFull, severity=critical}'), true)
    assert.equal(yes('{alertname=DiskFull, severity=warning}'), false)
    assert.equal(matches([], labels), true, 'no matchers match everything')
  })

  it('matcherSchema takes stored matchers and refuses a regex that does not compile', () => {
    assert.ok(matcherSchema.safeParse({ name: 'a', type: '=~', value: 'x+' }).success)
    assert.ok(!matcherSchema.safeParse({ name: 'a', type: '=~', value: '(' }).success)
    assert.ok(!matcherSchema.safeParse({ name: '1a', type: '=', value: 'x' }).success)
    assert.ok(!matcherSchema.safeParse({ name: 'a', type: '==', value: 'x' }).success)
  })

  it('fingerprint is Prometheus common/model LabelSet.Fingerprint (FNV-1a 64, 16 hex digits)', () => {
    // Values from prometheus/common model/signature_test.go.
    assert.equal(fingerprint({}), 'cbf29ce484222325')
    assert.equal(BigInt('0x' + fingerprint({ name: 'garland, briggs', fear: 'love is not enough' })), 5799056148416392346n)
  })

  it('fingerprint ignores the order labels were written in and separates names from values (property)', () => {
    const labelsArb = fc.dictionary(fc.stringMatching(/^[a-z_]{1,6}$/), fc.string({ maxLength: 8 }), { maxKeys: 6, noNullPrototype: true })
    fc.assert(fc.property(labelsArb, (labels) => {
      const reversed = Object.fromEntries(Object.entries(labels).reverse())
      assert.equal(fingerprint(reversed), fingerprint(labels))
      assert.match(fingerprint(labels), /^[0-9a-f]{16}$/)
    }))
    assert.notEqual(fingerprint({ a: 'bc' }), fingerprint({ ab: 'c' }))
    assert.notEqual(fingerprint({ a: 'b', c: 'd' }), fingerprint({ a: 'b' }))
  })
})
