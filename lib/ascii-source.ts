/**
 * JavaScript source text made ASCII-only, for the agent's bundle
 * (scripts/post-build.mjs).
 *
 * V8 keeps every script's source for the life of the process (functions are
 * compiled lazily from it), one byte per character when every character is
 * Latin-1 and two otherwise. esbuild escapes non-ASCII characters in strings,
 * but the comments it keeps carry `→`, `×`, `≈`: one such character made the
 * 3 MB agent chunk cost 6 MB of heap in every agent (docs/performance.md,
 * "The bundle's memory, and what did not pay").
 *
 * A `\uXXXX` escape (`\u{…}` beyond the BMP) denotes the same character in a
 * string, a template, a regular expression or an identifier, and is inert in
 * a comment; only `String.raw` templates would see the difference, and
 * esbuild has escaped the characters of those already.
 */

const NON_ASCII = /[^\x00-\x7f]/gu
/** The same class without the global flag, whose `lastIndex` would make `test` stateful. */
const ANY_NON_ASCII = /[^\x00-\x7f]/

export function asciiSource (text: string): string {
  return text.replace(NON_ASCII, ch => {
    const cp = ch.codePointAt(0) ?? 0
    return cp > 0xffff ? `\\u{${cp.toString(16)}}` : `\\u${cp.toString(16).padStart(4, '0')}`
  })
}

/** True when `text` is stored one byte per character by V8 (every character ASCII). */
export function isAsciiSource (text: string): boolean {
  return !ANY_NON_ASCII.test(text)
}
