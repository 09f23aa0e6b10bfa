/**
 * The daemon's libp2p node (daemon/node.ts) for integration tests: a fresh
 * Ed25519 identity, TCP on 127.0.0.1 with a kernel-picked port, the `test`
 * profile, started. `loopbackNodes()` keeps the nodes a suite starts and
 * stops them all in one `after` hook.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { createNode, type MycelNode, type NodeOptions } from '../../daemon/node.js'
import { libp2pTunables } from '../../daemon/profiles.js'

export interface LoopbackNodes {
  /** Start one more node; `extra` adds to or overrides the options above (e.g. a network key). */
  start: (extra?: Partial<NodeOptions>) => Promise<MycelNode>
  /** Stop every node started so far (the suite's `after`). */
  stopAll: () => Promise<void>
}

export function loopbackNodes (): LoopbackNodes {
  const nodes: MycelNode[] = []
  return {
    start: async (extra = {}) => {
      const n = await createNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], profile: libp2pTunables.defaults('test'), ...extra })
      await n.start()
      nodes.push(n)
      return n
    },
    stopAll: async () => { await Promise.all(nodes.map(async n => { await n.stop() })) }
  }
}
