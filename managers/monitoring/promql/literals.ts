/**
 * PromQL's literals as Prometheus reads them: numbers (decimal, hex, Inf,
 * NaN, `_` digit separators, and durations as seconds), durations
 * (`1h30m`, units y w d h m s ms, largest first), and Go-quoted strings.
 * Each returns undefined or throws a plain message; parse.ts adds the
 * position.
 */

const UNIT_MS: Readonly<Record<string, number>> = { y: 365 * 86_400_000, w: 7 * 86_400_000, d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000, ms: 1 }
const DURATION = /^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$/
const DURATION_UNITS = ['y', 'w', 'd', 'h', 'm', 's', 'ms']

/** A Prometheus duration (`5m`, `1m30s`) in ms, or undefined when `text` is not one. */
export function parseDuration (text: string): number | undefined {
  if (text === '') return undefined
  const m = DURATION.exec(text)
  if (m === null) return undefined
  let ms = 0
  for (let i = 0; i < DURATION_UNITS.length; i++) {
    if (m[i + 1] !== undefined) ms += Number(m[i + 1]) * UNIT_MS[DURATION_UNITS[i]]
  }
  return ms
}

/** A number literal's value (without its sign), or undefined when `text` is not one. */
export function parseNumber (text: string): number | undefined {
  const t = text.toLowerCase()
  if (t === 'inf') return Infinity
  if (t === 'nan') return NaN
  if (/^0x[0-9a-f]+$/.test(t)) return parseInt(t.slice(2), 16)
  const plain = t.replaceAll('_', '')
  if (/^(\d+(\.\d*)?|\.\d+)(e[+-]?\d+)?$/.test(plain)) return Number(plain)
  // Prometheus 3 reads a duration where a number goes as its seconds.
  const ms = parseDuration(text)
  return ms === undefined ? undefined : ms / 1000
}

const SIMPLE_ESCAPES: Readonly<Record<string, string>> = { a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\', '"': '"', "'": "'" }

/**
 * The value of a string literal as Go's strconv.Unquote gives it (Prometheus
 * unquotes with it): `"…"` and `'…'` with escapes, `` `…` `` raw. Throws a
 * message on an unterminated string or a bad escape.
 */
export function unquoteString (lit: string): string {
  const q = lit[0]
  if (lit.length < 2 || lit[lit.length - 1] !== q) throw new Error('unterminated quoted string')
  const body = lit.slice(1, -1)
  if (q === '`') return body
  let out = ''
  for (let i = 0; i < body.length; i++) {
    const c = body[i]
    if (c !== '\\') { out += c; continue }
    const n = body[++i]
    if (n in SIMPLE_ESCAPES) { out += SIMPLE_ESCAPES[n]; continue }
    const hexLen = n === 'x' ? 2 : n === 'u' ? 4 : n === 'U' ? 8 : 0
    if (hexLen > 0) {
      const hex = body.slice(i + 1, i + 1 + hexLen)
      if (!new RegExp(`^[0-9a-fA-F]{${hexLen}}$`).test(hex)) throw new Error(`invalid escape \\${n}${hex} in string`)
      const cp = parseInt(hex, 16)
      if (cp > 0x10ffff || (n !== 'x' && cp >= 0xd800 && cp < 0xe000)) throw new Error(`invalid escape \\${n}${hex} in string`)
      out += n === 'x' ? String.fromCharCode(cp) : String.fromCodePoint(cp)
      i += hexLen
      continue
    }
    const oct = body.slice(i, i + 3)
    if (/^[0-3][0-7]{2}$/.test(oct)) { out += String.fromCharCode(parseInt(oct, 8)); i += 2; continue }
    throw new Error(`invalid escape \\${n ?? ''} in string`)
  }
  return out
}
