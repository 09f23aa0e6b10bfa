import { strict as assert } from 'node:assert'
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'
import { parseManifest, loadManifest } from '../../testground/runner/manifest.js'
import { parseComposition, prepareRun } from '../../testground/runner/composition.js'
import { checkRunnerBuilders, COMPATIBLE_BUILDERS } from '../../testground/runner/compatibility.js'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')

// A plan that declares every runner and the builders in question, so only the engine's check can refuse.
const MANIFEST = `
name = "demo"
[builders."docker:node"]
[builders."docker:generic"]
[runners."local:docker"]
[runners."cluster:k8s"]
[runners."local:exec"]
[[testcases]]
name = "join"
instances = { min = 1, max = 10 }
`

const comp = (runner: string, builder: string): string => `
[global]
plan = "demo"
case = "join"
builder = "${builder}"
runner = "${runner}"
[[groups]]
id = "a"
instances = { count = 2 }
`

describe('testground runner/builder compatibility (engine.go QueueRun)', () => {
  const m = parseManifest(MANIFEST)

  it('refuses cluster:k8s with docker:node, as testground does', () => {
    assert.throws(() => prepareRun(parseComposition(comp('cluster:k8s', 'docker:node')), m),
      { name: 'CompositionError', message: /runner cluster:k8s is incompatible with builder docker:node/ })
  })

  it('accepts cluster:k8s with docker:generic and local:docker with docker:node', () => {
    assert.equal(prepareRun(parseComposition(comp('cluster:k8s', 'docker:generic')), m).runner, 'cluster:k8s')
    assert.equal(prepareRun(parseComposition(comp('local:docker', 'docker:node')), m).runner, 'local:docker')
  })

  it('refuses a builder of another group that the runner does not accept', () => {
    const text = comp('cluster:k8s', 'docker:generic') + '[[groups]]\nid = "b"\nbuilder = "docker:node"\ninstances = { count = 1 }\n'
    assert.throws(() => prepareRun(parseComposition(text), m), /incompatible with builder docker:node/)
  })

  it('refuses a runner testground does not have, even when the manifest declares it', () => {
    const m2 = parseManifest(MANIFEST + '[runners."local:netns"]\n')
    assert.throws(() => prepareRun(parseComposition(comp('local:netns', 'docker:node')), m2), { name: 'CompositionError', message: /unknown runner: local:netns/ })
    assert.throws(() => { checkRunnerBuilders('toString', []) }, /unknown runner: toString/)
  })

  // The claim in the plan's manifest: every runner it declares can run one of the builders it declares.
  for (const plan of ['mycel', 'selftest']) {
    it(`the ${plan} plan declares no runner that refuses all of its builders`, async () => {
      const pm = await loadManifest(join(root, 'testground', 'plans', plan, 'manifest.toml'))
      for (const runner of Object.keys(pm.runners)) {
        const accepted = COMPATIBLE_BUILDERS.get(runner)
        assert.ok(accepted !== undefined, `${plan}: unknown runner ${runner}`)
        assert.ok(Object.keys(pm.builders).some(b => accepted.includes(b)),
          `${plan}: runner ${runner} accepts ${accepted.join(', ')}; the plan builds with ${Object.keys(pm.builders).join(', ')}`)
      }
    })
  }
})
