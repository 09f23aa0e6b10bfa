/** harness/node-command.ts: the node flags of a bin's #! line reach every agent the harness and benchmarks start. */
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { nodeCommand, parseShebang } from '../../harness/node-command.js'

describe('harness/node-command', () => {
  it('reads no flags from a plain env line, nor from a file without #!', () => {
    assert.deepEqual(parseShebang('#!/usr/bin/env node'), { nodeArgs: [], env: {} })
    assert.deepEqual(parseShebang('/** a module */'), { nodeArgs: [], env: {} })
  })

  it('reads the flags of env -S, attached or not, with variable assignments before node', () => {
    assert.deepEqual(parseShebang('#!/usr/bin/env -S node --max-semi-space-size=1 --max-old-space-size=96'),
      { nodeArgs: ['--max-semi-space-size=1', '--max-old-space-size=96'], env: {} })
    assert.deepEqual(parseShebang('#!/usr/bin/env -Snode --jitless'), { nodeArgs: ['--jitless'], env: {} })
    assert.deepEqual(parseShebang('#!/usr/bin/env -S UV_THREADPOOL_SIZE=2 node --max-semi-space-size=1'),
      { nodeArgs: ['--max-semi-space-size=1'], env: { UV_THREADPOOL_SIZE: '2' } })
  })

  it('reads the flags of a direct interpreter path', () => {
    assert.deepEqual(parseShebang('#!/usr/local/bin/node --max-semi-space-size=1'), { nodeArgs: ['--max-semi-space-size=1'], env: {} })
    assert.deepEqual(parseShebang('#! /usr/bin/nodejs'), { nodeArgs: [], env: {} })
  })

  it('refuses a #! line that does not run node', () => {
    assert.throws(() => parseShebang('#!/bin/sh'), /does not run node/)
    assert.throws(() => parseShebang('#!/usr/bin/env -S deno run'), /does not run node/)
    assert.throws(() => parseShebang('#!'), /does not run node/)
  })

  it('nodeCommand puts this node, the bin\'s flags, then the extra flags before the script and its arguments', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mycel-node-command-'))
    try {
      const bin = join(dir, 'cli.js')
      await writeFile(bin, '#!/usr/bin/env -S A=1 node --max-semi-space-size=1\nconsole.log(1)\n')
      assert.deepEqual(nodeCommand(bin, ['agent', '--dev'], ['--cpu-prof']), {
        command: process.execPath,
        args: ['--max-semi-space-size=1', '--cpu-prof', bin, 'agent', '--dev'],
        env: { A: '1' }
      })
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
