/**
 * The README and docs/ link to each other's sections by anchor; a section
 * renamed or lost (an edit once dropped 580 lines of docs/performance.md and
 * every test still passed) leaves a reader at the top of a page. Every
 * relative Markdown link must name a file that exists and, with `#anchor`, a
 * heading of that file under GitHub's slug rule.
 */
import assert from 'node:assert/strict'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'

const ROOT = resolve(import.meta.dirname, '../..')

/** GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
function slugs (markdown: string): Set<string> {
  const out = new Set<string>()
  const seen = new Map<string, number>()
  let fenced = false
  for (const line of markdown.split('\n')) {
    if (line.startsWith('```')) fenced = !fenced
    const m = fenced ? null : /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)
    if (m === null) continue
    const base = m[1].toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-')
    const n = seen.get(base) ?? 0
    seen.set(base, n + 1)
    out.add(n === 0 ? base : `${base}-${n}`)
  }
  return out
}

/** Relative links `[text](target)` outside code fences and inline code. */
function links (markdown: string): string[] {
  const out: string[] = []
  let fenced = false
  for (const line of markdown.split('\n')) {
    if (line.startsWith('```')) { fenced = !fenced; continue }
    if (fenced) continue
    for (const m of line.replace(/`[^`]*`/g, '').matchAll(/\]\(([^)\s]+)\)/g)) {
      if (!/^[a-z]+:/i.test(m[1])) out.push(m[1])
    }
  }
  return out
}

const pages = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter(f => f.endsWith('.md')).map(f => `docs/${f}`)]

describe('docs: links between pages', () => {
  it('slugs follow GitHub: punctuation dropped, spaces to hyphens, repeats numbered', () => {
    assert.deepEqual([...slugs('# Why `join-100` cannot fit (issue 18, eighth pass)\n## A\n## A\n```\n# not a heading\n```')],
      ['why-join-100-cannot-fit-issue-18-eighth-pass', 'a', 'a-1'])
  })

  for (const page of pages) {
    it(`${page}: every relative link names an existing file and heading`, () => {
      const broken: string[] = []
      for (const target of links(readFileSync(join(ROOT, page), 'utf8'))) {
        const [path, anchor] = target.split('#', 2)
        const file = path === '' ? join(ROOT, page) : resolve(dirname(join(ROOT, page)), path)
        if (!existsSync(file)) { broken.push(`${target} (no file ${relative(ROOT, file)})`); continue }
        if (anchor !== undefined && anchor !== '' && file.endsWith('.md') && !slugs(readFileSync(file, 'utf8')).has(anchor)) {
          broken.push(`${target} (no heading #${anchor} in ${relative(ROOT, file)})`)
        }
      }
      assert.deepEqual(broken, [])
    })
  }
})
