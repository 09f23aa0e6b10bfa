/**
 * Label regexes: Prometheus compiles them with Go's RE2, fully anchored and
 * with `.` matching newlines (`^(?s:re)$`). We run them on JavaScript's
 * backtracking engine, so before compiling we translate the RE2 spellings
 * JavaScript lacks and refuse, with a reason, what would not mean the same
 * or could take exponential time:
 *
 *  - backreferences and lookarounds (RE2 has neither; Prometheus refuses them),
 *  - a quantified group that itself holds an unbounded quantifier, e.g.
 *    `(a+)+` or `(x*y)*`: linear in RE2, exponential backtracking here,
 *  - inline flags other than a leading `(?i)`, `\Q…\E`, `\C`, POSIX classes.
 *
 * Translated: a leading `(?i)` (the `i` flag), `(?P<name>` (`(?<name>`),
 * `\A` / `\z` (`^` / `$`), `\pL` (`\p{L}`), and an escaped ASCII punctuation
 * character (RE2 takes any escaped punctuation, JavaScript's unicode mode
 * only some) as a `\xHH` escape. The `u` flag makes
 * JavaScript match code points as RE2 does and reject unknown escapes as
 * RE2 does.
 */

/** Why a regex is refused; parse.ts turns it into a PromqlError at the matcher's position. */
export class RegexRefusedError extends Error {
  static name = 'RegexRefusedError'
  override name = 'RegexRefusedError'
}

const PUNCT = /^[!-/:-@[-`{-~]$/

/**
 * Compiles an RE2 label regex anchored as Prometheus does, or throws
 * RegexRefusedError. `dotAll: false` for Alertmanager's matchers, which
 * anchor as `^(?:re)$` without Prometheus's `(?s)`.
 */
export function compileLabelRegex (re: string, { dotAll = true }: { dotAll?: boolean } = {}): RegExp {
  let flags = dotAll ? 'su' : 'u'
  let src = re
  if (src.startsWith('(?i)')) { flags += 'i'; src = src.slice(4) }
  const translated = translate(src)
  try {
    return new RegExp(`^(?:${translated})$`, flags)
  } catch (err) {
    throw new RegexRefusedError(`invalid regular expression ${JSON.stringify(re)}: ${(err as Error).message.replace(/^Invalid regular expression: /, '')}`)
  }
}

interface Group { unbounded: boolean }

function translate (src: string): string {
  let out = ''
  // Groups open around the current position; each learns whether it holds an unbounded quantifier.
  const groups: Group[] = [{ unbounded: false }]
  // What the last atom was, for the nested-quantifier check.
  let lastAtomUnboundedInside = false
  let inClass = false
  for (let i = 0; i < src.length; i++) {
    const c = src[i]
    if (c === '\\') {
      const n = src[i + 1]
      if (n === undefined) throw new RegexRefusedError('regular expression ends with a lone backslash')
      if (/[1-9]/.test(n) || n === 'k') throw new RegexRefusedError('backreferences are not supported (RE2 has none)')
      if (n === 'Q' || n === 'E' || n === 'C') throw new RegexRefusedError(`\\${n} is not supported`)
      if (!inClass && n === 'A') { out += '^'; i++; lastAtomUnboundedInside = false; continue }
      if (!inClass && n === 'z') { out += '$'; i++; lastAtomUnboundedInside = false; continue }
      if ((n === 'p' || n === 'P') && src[i + 2] !== '{' && src[i + 2] !== undefined) {
        out += `\\${n}{${src[i + 2]}}`; i += 2; lastAtomUnboundedInside = false; continue
      }
      if (PUNCT.test(n)) out += `\\x${n.charCodeAt(0).toString(16).padStart(2, '0')}`
      else out += c + n
      i++
      lastAtomUnboundedInside = false
      continue
    }
    if (inClass) {
      if (c === '[' && src[i + 1] === ':') throw new RegexRefusedError('POSIX character classes ([[:alpha:]]) are not supported')
      if (c === ']') inClass = false
      out += c
      continue
    }
    switch (c) {
      case '[':
        inClass = true
        if (src[i + 1] === '^') { out += '[^'; i++ } else out += c
        // A ']' first in a class is a literal in RE2.
        if (src[i + 1] === ']') { out += '\\]'; i++ }
        lastAtomUnboundedInside = false
        continue
      case '(': {
        if (src[i + 1] === '?') {
          const rest = src.slice(i + 2)
          if (rest.startsWith(':')) { out += '(?:'; i += 2 } else if (rest.startsWith('P<')) { out += '(?<'; i += 3 } else if (/^<[A-Za-z_]/.test(rest)) { out += '(?<'; i += 2 } else if (/^(=|!|<=|<!)/.test(rest)) {
            throw new RegexRefusedError('lookaround assertions are not supported (RE2 has none)')
          } else {
            throw new RegexRefusedError('inline flags are supported only as a leading (?i)')
          }
        } else out += c
        groups.push({ unbounded: false })
        continue
      }
      case ')': {
        const g = groups.pop()
        if (g === undefined || groups.length === 0) throw new RegexRefusedError('unbalanced parenthesis')
        out += c
        lastAtomUnboundedInside = g.unbounded
        // What a group holds, its parent holds too.
        if (g.unbounded) groups[groups.length - 1].unbounded = true
        continue
      }
      case '*': case '+': case '{': case '?': {
        let quant: string = c
        if (c === '{') {
          const m = /^\{(\d*)(,?)(\d*)\}/.exec(src.slice(i))
          // RE2 reads a brace that is not a repeat as a literal.
          if (m === null) { out += '\\{'; lastAtomUnboundedInside = false; continue }
          quant = m[0]
          i += quant.length - 1
        }
        const unbounded = c === '*' || c === '+' || /^\{\d*,\}$/.test(quant)
        if (unbounded && lastAtomUnboundedInside) {
          throw new RegexRefusedError('nested unbounded quantifiers (like (a+)+) can take exponential time in JavaScript\'s regex engine')
        }
        if (unbounded) groups[groups.length - 1].unbounded = true
        out += quant
        if (src[i + 1] === '?') { out += '?'; i++ }
        lastAtomUnboundedInside = false
        continue
      }
      default:
        out += c
        lastAtomUnboundedInside = false
    }
  }
  if (groups.length !== 1) throw new RegexRefusedError('unbalanced parenthesis')
  return out
}
