/** lib/ascii-source.ts: the bundle's source made ASCII-only means the same program. */
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { asciiSource, isAsciiSource } from '../../lib/ascii-source.js'

// Compiles `source` as a function body and runs it.
const run = (source: string): unknown => (new Function(source) as () => unknown)()

describe('lib/ascii-source', () => {
  it('leaves ASCII alone and escapes everything else', () => {
    assert.equal(asciiSource('const a = 1 // plain'), 'const a = 1 // plain')
    assert.equal(asciiSource('// a → b × 2'), '// a \\u2192 b \\u00d7 2')
    assert.equal(asciiSource('"🍄"'), '"\\u{1f344}"')
    assert.equal(isAsciiSource('// a → b'), false)
    assert.equal(isAsciiSource(asciiSource('// a → b')), true)
  })

  it('a string, a template, a regular expression, an identifier and a comment mean what they meant', () => {
    fc.assert(fc.property(fc.string({ unit: 'grapheme', maxLength: 40 }), (s) => {
      // Only characters a string literal holds as they are: no quote, backslash or line break.
      const text = s.replace(/["'`\\\n\r\u2028\u2029$]/g, '')
      const cases = [
        `return "${text}"`,
        `return \`${text}\``,
        `/* ${text.replace(/\*\//g, '')} */ return "${text}"`,
        `// ${text}\nreturn '${text}'`
      ]
      for (const source of cases) {
        const escaped = asciiSource(source)
        assert.ok(isAsciiSource(escaped))
        assert.equal(run(escaped), run(source), source)
      }
    }))
    assert.equal(run(asciiSource('const größe = 2; return größe')), 2)
    assert.equal(run(asciiSource('return /→+/.test("→→")')), true)
    assert.equal(run(asciiSource('return /🍄/u.test("🍄")')), true)
  })
})
