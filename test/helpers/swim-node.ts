/**
 * A real libp2p node (TCP on 127.0.0.1, the `test` profile) running
 * membership in-process, joined through `bootstrap` if given: the building
 * block of the in-process membership integration tests.
 */
import type { PrivateKey } from '@libp2p/interface'
import { pino } from 'pino'
import { Registry } from 'prom-client'
import { createNode, type MycelNode } from '../../daemon/node.js'
import { libp2pTunables } from '../../daemon/profiles.js'
import { membership, membershipConfig, type Membership } from '../../protocols/membership/index.js'

export interface SwimNode { node: MycelNode, m: Membership, registry: Registry }

export async function startSwimNode (key: PrivateKey, dir: string, opts: { bootstrap?: MycelNode, roles?: string[] } = {}): Promise<SwimNode> {
  const node = await createNode({ privateKey: key, listen: ['/ip4/127.0.0.1/tcp/0'], profile: libp2pTunables.defaults('test') })
  await node.start()
  const registry = new Registry()
  const m = membership({ config: membershipConfig('test'), region: 'r1', roles: opts.roles ?? [], version: 'test', dataDir: dir })({
    rpc: node, peers: node, pubsub: node.services.pubsub, peerId: node.peerId.toString(), privateKey: key, region: 'r1', logger: pino({ level: process.env.MYCEL_TEST_LOG ?? 'silent' }), registry
  })
  await m.start()
  // The daemon's redial loop retries; so does the test (a loaded CI host can miss one dial timeout).
  for (let attempt = 1; opts.bootstrap !== undefined; attempt++) {
    try {
      await node.dial(opts.bootstrap.getMultiaddrs()[0], { signal: AbortSignal.timeout(10_000) })
      break
    } catch (err) {
      if (attempt >= 5) throw err
    }
  }
  return { node, m, registry }
}
