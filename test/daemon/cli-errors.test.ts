/**
 * The CLI's error → exit code map, its usage errors as one line (in-process:
 * runCli is what the `mycel` process runs) and its rewording of start
 * failures. The real-process cases are in cli-ux.
 */
import { expect } from 'chai'
import { CommanderError } from 'commander'
import { exitCodeOf } from '../../daemon/cli/exit-codes.js'
import { startupErrorMessage } from '../../daemon/cli/startup-error.js'
import { runCli } from '../../daemon/cli/program.js'
import { ConfigError, UsageError } from '../../daemon/errors.js'
import { RequestError } from '../../lib/errors.js'
import { StartError } from '../../lib/lifecycle.js'

describe('CLI errors', () => {
  it('maps usage and configuration errors to 2, everything else to 1', () => {
    expect(exitCodeOf(new CommanderError(1, 'commander.unknownOption', 'x'))).to.equal(2)
    expect(exitCodeOf(new CommanderError(0, 'commander.helpDisplayed', ''))).to.equal(0)
    expect(exitCodeOf(new UsageError('x'))).to.equal(2)
    expect(exitCodeOf(new ConfigError('x'))).to.equal(2)
    expect(exitCodeOf(Object.assign(new Error('x'), { name: 'InvalidGenesisError' }))).to.equal(2)
    expect(exitCodeOf(new RequestError(400, 'bad namespace'))).to.equal(2)
    expect(exitCodeOf(new RequestError(422, 'schema'))).to.equal(2)
    expect(exitCodeOf(new RequestError(403, 'not an admin'))).to.equal(1)
    expect(exitCodeOf(new RequestError(504, 'timeout'))).to.equal(1)
    expect(exitCodeOf(new Error('boom'))).to.equal(1)
  })

  it('says which address could not be listened on and why, in one line', () => {
    // libp2p 3's wording, verbatim shape.
    const libp2p = Object.assign(new Error('Some configured addresses failed to be listened on, you may need to remove one or more listen addresses from your configuration or set `transportManager.faultTolerance` to NO_FATAL:\n\n' +
      '  /ip4/127.0.0.1/tcp/4100: Error: listen EADDRINUSE: address already in use 127.0.0.1:4100\n      at Server.setupListenHandle [as _listen2] (node:net:1908:16)\n'), { name: 'UnsupportedListenAddressesError' })
    const e = startupErrorMessage(libp2p)
    expect(e.name).to.equal('ListenError')
    expect(e.message).to.equal('cannot listen on /ip4/127.0.0.1/tcp/4100: address already in use by another process (perhaps another mycel agent); change --listen')
    const api = Object.assign(new Error('listen EADDRINUSE: address already in use 127.0.0.1:8900'), { code: 'EADDRINUSE', syscall: 'listen', address: '127.0.0.1', port: 8900 })
    expect(startupErrorMessage(api).message).to.match(/^cannot serve the admin API on 127\.0\.0\.1:8900: address already in use/)
    const other = new ConfigError('network key: nope')
    expect(startupErrorMessage(other)).to.equal(other)
    // The agent rejects with a StartError naming the part; the line and the exit code are its cause's.
    expect(startupErrorMessage(new StartError('api', api)).message).to.match(/^cannot serve the admin API on 127\.0\.0\.1:8900: address already in use/)
    expect(startupErrorMessage(new StartError('libp2p', other))).to.equal(other)
  })

  it('usage errors the parser catches exit 2 with one line naming the problem, before anything is sent', async () => {
    const run = async (...args: string[]): Promise<{ code: number, stderr: string }> => {
      let stderr = ''
      const code = await runCli(args, { writeErr: str => { stderr += str }, writeOut: () => {} })
      return { code, stderr }
    }
    for (const [args, mentions] of [
      [['members', '--state', 'zombie', '--api', '127.0.0.1:1'], 'zombie'],
      [['members', '--region', 'BAD X', '--api', '127.0.0.1:1'], 'region'],
      [['members', '--api', '127.0.0.1:99999'], 'port out of range'],
      [['no-such-command'], 'no-such-command'],
      [['init', '--data-dir', '/nonexistent/mycel', '--region', 'eu-west'], '--region'],
      [['config', 'set', 'no-key', '1', '--api', '127.0.0.1:1'], 'NAMESPACE/KEY']
    ] as Array<[string[], string]>) {
      const r = await run(...args)
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).to.equal(2)
      expect(r.stderr.trim().split('\n'), r.stderr).to.have.length(1)
      expect(r.stderr).to.match(/^mycel: /)
      expect(r.stderr).to.include(mentions)
    }
  })
})
