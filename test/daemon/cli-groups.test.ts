import { expect } from 'chai'
import { Command } from 'commander'
import { COMMAND_GROUPS, createProgram } from '../../daemon/cli/program.js'

describe('mycel CLI: command groups load on demand', () => {
  it('each group registers exactly the top-level names it is listed under', async () => {
    for (const g of COMMAND_GROUPS) {
      const program = new Command('mycel')
      ;(await g.load())(program)
      expect(program.commands.map(c => c.name()), g.names.join()).to.deep.equal([...g.names])
    }
  })

  it('no name belongs to two groups; the whole tree is every group, in help order', async () => {
    const names = COMMAND_GROUPS.flatMap(g => g.names)
    expect(new Set(names).size).to.equal(names.length)
    expect((await createProgram()).commands.map(c => c.name())).to.deep.equal(names)
  })

  it('a command line that names a group builds that group only; --version none; anything else builds all', async () => {
    expect((await createProgram({}, ['init', '--json'])).commands.map(c => c.name())).to.deep.equal(['init', 'id', 'keygen'])
    expect((await createProgram({}, ['component', 'list'])).commands.map(c => c.name())).to.deep.equal(['component'])
    expect((await createProgram({}, ['--version'])).commands).to.deep.equal([])
    for (const args of [[], ['--help'], ['-h'], ['memebrs']]) {
      expect((await createProgram({}, args)).commands.length, args.join(' ')).to.equal(COMMAND_GROUPS.flatMap(g => g.names).length)
    }
  })
})
