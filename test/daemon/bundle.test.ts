/**
 * The agent's bundle as scripts/post-build.mjs writes it (npm test builds
 * first): what it must and must not carry, since every agent pays for it in
 * memory for its whole life.
 */
import assert from 'node:assert/strict'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { createServer } from 'node:http'
import { isAsciiSource } from '../../lib/ascii-source.js'
import { CODE_CACHE_MANIFEST, codeCacheFileName, readCodeCacheManifest, thisNode } from '../../daemon/code-cache.js'
import { VERSION } from '../../daemon/version.js'
import { AgentProcess } from '../../harness/agent-process.js'

/** Every file of the agent's bundle, with its text. */
function bundle (): Array<[string, string]> {
  const files = ['dist/daemon/cli.js', ...readdirSync('dist/daemon/bundle').filter(f => f.endsWith('.js') || f.endsWith('.cjs')).map(f => `dist/daemon/bundle/${f}`)]
  assert.ok(files.length > 5, `only ${files.length} bundle files: is dist/ built?`)
  return files.map(f => [f, readFileSync(f, 'utf8')])
}

describe('daemon bundle', () => {
  it('the agent bundle the build wrote is ASCII-only (one byte per character in V8)', () => {
    const wide = bundle().filter(([, text]) => !isAsciiSource(text)).map(([f]) => f)
    assert.deepEqual(wide, [])
  })

  it('the bundle carries zod\'s English messages and none of its other locales (scripts/post-build.mjs)', () => {
    const locales = new Set(bundle().flatMap(([, text]) => [...text.matchAll(/^\/\/ node_modules\/zod\/v4\/locales\/([\w-]+)\.js$/gm)].map(m => m[1])))
    assert.deepEqual([...locales], ['en'])
  })

  it('the bundle carries kad-dht without its refresh prefix table, in whose place stands one that says why (scripts/post-build.mjs)', () => {
    const files = bundle()
    assert.deepEqual(files.filter(([, text]) => /^\/\/ node_modules\/@libp2p\/kad-dht\/dist\/src\/routing-table\/generated-prefix-list\.js$/m.test(text)).map(([f]) => f), [])
    assert.ok(files.some(([, text]) => /^\/\/ node_modules\/@libp2p\/kad-dht\/dist\/src\/routing-table\/refresh\.js$/m.test(text)), 'kad-dht is in the bundle')
    assert.ok(files.some(([, text]) => text.includes('kad-dht bucket refresh is off in mycel')))
  })

  it('the build recorded V8\'s code cache of the agent\'s CommonJS bundle for this node, and `mycel agent` starts from it (daemon/code-cache.ts)', async () => {
    const manifest = readCodeCacheManifest('dist/daemon/bundle')
    assert.ok(manifest !== undefined, `dist/daemon/bundle/${CODE_CACHE_MANIFEST} missing`)
    assert.deepEqual({ node: manifest.node, v8: manifest.v8, platform: manifest.platform, arch: manifest.arch }, thisNode())
    assert.match(manifest.bundle, /^agent-[0-9a-f]{16}\.cjs$/)
    assert.equal(manifest.cache, codeCacheFileName(manifest.bundle, thisNode()), 'the build\'s recording run wrote no cache (see its warning)')
    assert.ok(statSync(`dist/daemon/bundle/${manifest.cache}`).size > 1_000_000, 'a cache of the whole start')
    assert.ok(isAsciiSource(readFileSync(`dist/daemon/bundle/${manifest.bundle}`, 'latin1')), 'code-cache.ts reads the bundle as latin1')
    // What differs in a script run by node:vm: its version found from the bundle's directory, and a dynamic
    // import() (none may be left: the OTLP exporter's import('http') is on every export).
    const posts: string[] = []
    const collector = createServer((req, res) => { posts.push(`${req.method ?? ''} ${req.url ?? ''}`); req.resume(); req.on('end', () => { res.writeHead(200).end() }) })
    await new Promise<void>(resolve => collector.listen(0, '127.0.0.1', resolve))
    const port = (collector.address() as { port: number }).port
    const agent = await AgentProcess.start({ logLevel: 'warn', extraArgs: ['--otlp-endpoint', `http://127.0.0.1:${port}/v1/traces`] })
    try {
      const metrics = await (await fetch(`http://${agent.api}/metrics`)).text()
      assert.match(metrics, /^mycel_process_code_cache_info\{state="accepted"\} 1$/m)
      assert.equal((await agent.get<{ version: string }>('/v1/status')).version, VERSION)
      assert.equal((await agent.request('PUT', '/v1/config/test/k', { value: 1 })).status, 200)
      // Stopping flushes the spans queued for export (daemon/tracing.ts).
      assert.equal(await agent.stop(), 0)
      assert.ok(posts.includes('POST /v1/traces'), `the collector got ${JSON.stringify(posts)}; agent stderr: ${agent.stderr}`)
      assert.doesNotMatch(agent.stderr, /dynamic import|OTLP span export failed/)
    } finally {
      await agent.cleanup()
      collector.close()
    }
  })

  it('the agent\'s CommonJS bundle has no dynamic import() left: node:vm runs it without a module loader', () => {
    const manifest = readCodeCacheManifest('dist/daemon/bundle')
    assert.ok(manifest !== undefined)
    // Code only: comments mention import() too.
    const code = readFileSync(`dist/daemon/bundle/${manifest.bundle}`, 'latin1').split('\n').filter(l => !/^\s*(\/\/|\*|\/\*)/.test(l))
    assert.deepEqual(code.filter(l => /(^|[^\w.$])import\(/.test(l)).map(l => l.trim().slice(0, 120)), [])
  })
})
