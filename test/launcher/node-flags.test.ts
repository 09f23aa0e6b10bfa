/**
 * Every way an agent starts runs it with AGENT_NODE_FLAGS (launcher/node-flags.ts):
 * the `mycel` bin's shebang carries the same list, and the bin runs as an
 * executable through it (`env -S`).
 */
import { strict as assert } from 'node:assert'
import { readFileSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { AGENT_NODE_FLAGS } from '../../launcher/node-flags.js'

const run = promisify(execFile)

describe('launcher: the agent node flags', () => {
  it('the mycel bin shebang (source and build) passes exactly AGENT_NODE_FLAGS to node', () => {
    for (const file of ['daemon/cli.ts', 'dist/daemon/cli.js']) {
      const first = readFileSync(file, 'utf8').split('\n')[0]
      assert.equal(first, `#!/usr/bin/env -S node ${AGENT_NODE_FLAGS.join(' ')}`, file)
    }
  })

  it('the built bin runs as an executable through its shebang, with the flags in its execArgv', async () => {
    const { stdout } = await run('dist/daemon/cli.js', ['--version'])
    assert.match(stdout.trim(), /^\d+\.\d+\.\d+/)
    // A script with the bin's first line reports what node got.
    const dir = await mkdtemp(join(tmpdir(), 'mycel-flags-'))
    try {
      const script = join(dir, 'probe.mjs')
      await writeFile(script, `${readFileSync('dist/daemon/cli.js', 'utf8').split('\n')[0]}\nconsole.log(JSON.stringify(process.execArgv))\n`, { mode: 0o755 })
      const probe = await run(script, [])
      assert.deepEqual(JSON.parse(probe.stdout), AGENT_NODE_FLAGS)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
