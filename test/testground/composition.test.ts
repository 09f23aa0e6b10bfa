import { strict as assert } from 'node:assert'
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'
import { readdir } from 'node:fs/promises'
import { parseManifest, defaultParameters, loadManifest } from '../../testground/runner/manifest.js'
import { parseComposition, prepareRun, loadComposition } from '../../testground/runner/composition.js'
import { packParams, parseGoDuration } from '../../testground/runner/params.js'

const MANIFEST = `
name = "demo"
[defaults]
builder = "docker:node"
runner = "local:docker"
[builders."docker:node"]
enabled = true
[runners."local:docker"]
enabled = true
[runners."cluster:k8s"]
enabled = true
[[testcases]]
name = "join"
instances = { min = 2, max = 100, default = 5 }
  [testcases.params]
  timeout = { type = "duration", default = "60s" }
  k = { type = "int", default = 1 }
  mode = { type = "enum", options = ["a", "b"], default = "a" }
  label = { type = "string", default = "x" }
  ratio = { type = "float", default = 0.5 }
  flag = { type = "bool", default = false }
[[testcases]]
name = "needs"
instances = { min = 1, max = 3 }
  [testcases.params]
  required = { type = "int" }
`

const comp = (body: string): string => `
[metadata]
name = "t"
[global]
plan = "demo"
case = "join"
builder = "docker:node"
runner = "local:docker"
${body}`

describe('testground manifest', () => {
  it('parses testcases, params and defaults rendered like testground', () => {
    const m = parseManifest(MANIFEST)
    assert.equal(m.name, 'demo')
    assert.deepEqual(Object.keys(m.builders), ['docker:node'])
    assert.equal(m.testcases.length, 2)
    assert.deepEqual(m.testcases[0].instances, { min: 2, max: 100, default: 5 })
    assert.deepEqual(defaultParameters(m.testcases[0]), {
      timeout: '60s', k: '1', mode: 'a', label: 'x', ratio: '0.5', flag: 'false'
    })
  })

  const bad: Array<[string, string, RegExp]> = [
    ['invalid toml', 'name = ', /invalid TOML/],
    ['missing name', MANIFEST.replace('name = "demo"', ''), /name must be/],
    ['no builders', MANIFEST.replace(/\[builders[^\n]*\nenabled = true/, ''), /supports no builders|has no \[builders/],
    ['no testcases', 'name = "x"\n[builders."docker:node"]\n[runners."local:docker"]\n', /testcases/],
    ['min > max', MANIFEST.replace('min = 2, max = 100', 'min = 5, max = 2'), /instances.min <= instances.max/],
    ['unknown param type', MANIFEST.replace('type = "int", default = 1', 'type = "integer", default = 1'), /unknown type "integer"/],
    ['duplicate case', MANIFEST.replace('name = "needs"', 'name = "join"'), /duplicate testcase/],
    ['defaults runner undeclared', MANIFEST.replace('runner = "local:docker"', 'runner = "local:exec"'), /local:exec/]
  ]
  for (const [what, text, re] of bad) {
    it(`rejects: ${what}`, () => { assert.throws(() => parseManifest(text), re) })
  }

  it('the mycel plan manifest and all its compositions are valid', async () => {
    const here = dirname(fileURLToPath(import.meta.url))
    const planDir = join(here, '../../testground/plans/mycel')
    const m = await loadManifest(join(planDir, 'manifest.toml'))
    const files = (await readdir(join(planDir, '_compositions'))).filter(f => f.endsWith('.toml'))
    assert.ok(files.length >= 4)
    for (const f of files) {
      const c = await loadComposition(join(planDir, '_compositions', f))
      const r = prepareRun(c, m)
      assert.ok(r.totalInstances >= 1, f)
    }
  })
})

describe('testground composition', () => {
  const m = parseManifest(MANIFEST)

  it('applies precedence: manifest defaults < global run params < group params', () => {
    const c = parseComposition(comp(`
[global.run.test_params]
k = "2"
label = "global"
[[groups]]
id = "a"
instances = { count = 2 }
[groups.run.test_params]
k = "3"
[[groups]]
id = "b"
instances = { count = 1 }
`))
    const r = prepareRun(c, m)
    assert.equal(r.runId, 'default')
    assert.equal(r.totalInstances, 3)
    assert.deepEqual(r.groups.map(g => [g.id, g.instances]), [['a', 2], ['b', 1]])
    assert.equal(r.groups[0].params.k, '3')
    assert.equal(r.groups[0].params.label, 'global')
    assert.equal(r.groups[1].params.k, '2')
    assert.equal(r.groups[1].params.timeout, '60s')
  })

  it('resolves percentages against total_instances', () => {
    const c = parseComposition(comp(`total_instances = 10
[[groups]]
id = "a"
instances = { percentage = 0.3 }
[[groups]]
id = "b"
instances = { percentage = 0.7 }
`))
    const r = prepareRun(c, m)
    assert.deepEqual(r.groups.map(g => g.instances), [3, 7])
  })

  it('[[runs]] override group params and counts', () => {
    const c = parseComposition(comp(`
[[groups]]
id = "a"
instances = { count = 2 }
[groups.run.test_params]
k = "3"
[[runs]]
id = "r1"
test_params = { label = "run" }
[[runs.groups]]
id = "a"
instances = { count = 4 }
test_params = { k = "9" }
`))
    const r = prepareRun(c, m)
    assert.equal(r.runId, 'r1')
    assert.equal(r.groups[0].instances, 4)
    assert.equal(r.groups[0].params.k, '9')
    assert.equal(r.groups[0].params.label, 'run')
  })

  // testground decodes test_params into map[string]string with BurntSushi/toml: a bare value fails
  // the whole composition there, so it must fail here, naming the file and the key.
  const notStrings: Array<[string, string, RegExp]> = [
    ['[global.run.test_params] int', comp('[global.run.test_params]\nk = 1\n[[groups]]\nid = "a"\ninstances = { count = 2 }'),
      /^c\.toml: global\.run\.test_params\.k: toml: cannot load TOML value of type int64 into a Go string.*k = "1"/],
    ['[groups.run.test_params] bool', comp('[[groups]]\nid = "a"\ninstances = { count = 2 }\n[groups.run.test_params]\nflag = true'),
      /^c\.toml: group "a" run\.test_params\.flag: toml: cannot load TOML value of type bool into a Go string/],
    ['[[groups]] run.test_params float', comp('[[groups]]\nid = "a"\ninstances = { count = 2 }\nrun = { test_params = { ratio = 0.5 } }'),
      /group "a" run\.test_params\.ratio: toml: cannot load TOML value of type float64 into a Go string/],
    ['[[runs]] test_params int', comp('[[groups]]\nid = "a"\ninstances = { count = 2 }\n[[runs]]\nid = "r"\ntest_params = { k = 2 }\n[[runs.groups]]\nid = "a"'),
      /run "r" test_params\.k: toml: cannot load TOML value of type int64/],
    ['[[runs.groups]] test_params array', comp('[[groups]]\nid = "a"\ninstances = { count = 2 }\n[[runs]]\nid = "r"\n[[runs.groups]]\nid = "a"\ntest_params = { label = ["x"] }'),
      /run "r" group "a" test_params\.label: toml: cannot load TOML value of type \[\]interface \{\} into a Go string/]
  ]
  for (const [what, text, re] of notStrings) {
    it(`refuses a non-string test param (${what}) with testground's message`, () => {
      assert.throws(() => parseComposition(text, 'c.toml'), (err: Error) => err.name === 'CompositionError' && re.test(err.message))
    })
  }

  it('keeps integers outside test_params as numbers (counts, run_config)', () => {
    const c = parseComposition(comp('[global.run_config]\nrun_timeout_min = 3\n[[groups]]\nid = "a"\ninstances = { count = 2 }'))
    assert.equal(c.global.runConfig.run_timeout_min, 3)
    assert.equal(prepareRun(c, m).groups[0].instances, 2)
  })

  const bad: Array<[string, string, RegExp, string?]> = [
    ['unknown case', comp('[[groups]]\nid = "a"\ninstances = { count = 2 }').replace('case = "join"', 'case = "nope"'), /test case "nope" not found/],
    ['too few instances', comp('[[groups]]\nid = "a"\ninstances = { count = 1 }'), /outside of allowable range \[2, 100\]/],
    ['too many instances', comp('[[groups]]\nid = "a"\ninstances = { count = 101 }'), /outside of allowable range/],
    ['count and percentage', comp('total_instances = 2\n[[groups]]\nid = "a"\ninstances = { count = 2, percentage = 1.0 }'), /exactly one/],
    ['no count', comp('[[groups]]\nid = "a"'), /exactly one/],
    ['percentage without total', comp('[[groups]]\nid = "a"\ninstances = { percentage = 0.5 }'), /requires a total_instances/],
    ['total mismatch', comp('total_instances = 5\n[[groups]]\nid = "a"\ninstances = { count = 2 }'), /total instances mismatch/],
    ['duplicate group', comp('[[groups]]\nid = "a"\ninstances = { count = 2 }\n[[groups]]\nid = "a"\ninstances = { count = 2 }'), /not unique/],
    ['unsupported runner', comp('[[groups]]\nid = "a"\ninstances = { count = 2 }').replace('runner = "local:docker"', 'runner = "local:exec"'), /does not support runner "local:exec"/],
    ['unsupported builder', comp('[[groups]]\nid = "a"\nbuilder = "exec:go"\ninstances = { count = 2 }'), /does not support builder "exec:go"/],
    ['bad int param', comp('[[groups]]\nid = "a"\ninstances = { count = 2 }\n[groups.run.test_params]\nk = "two"'), /param "k" = "two": expected an integer/],
    ['bad duration', comp('[[groups]]\nid = "a"\ninstances = { count = 2 }\n[groups.run.test_params]\ntimeout = "10 seconds"'), /expected a duration/],
    ['bad enum', comp('[[groups]]\nid = "a"\ninstances = { count = 2 }\n[groups.run.test_params]\nmode = "c"'), /one of a, b/],
    ['unknown param', comp('[[groups]]\nid = "a"\ninstances = { count = 2 }\n[groups.run.test_params]\ntimeuot = "1s"'), /unknown param "timeuot"/],
    ['unencodable value', comp('[[groups]]\nid = "a"\ninstances = { count = 2 }\n[groups.run.test_params]\nlabel = "a=b"'), /may not contain/],
    ['missing required param', comp('[[groups]]\nid = "a"\ninstances = { count = 2 }').replace('case = "join"', 'case = "needs"'), /missing param "required"/],
    ['missing global', '[[groups]]\nid = "a"', /\[global\] is required/],
    ['no groups', comp(''), /at least one \[\[groups\]\]/],
    ['invalid toml', '[global', /invalid TOML/]
  ]
  for (const [what, text, re] of bad) {
    it(`rejects before starting: ${what}`, () => {
      assert.throws(() => prepareRun(parseComposition(text), m), re)
    })
  }
})

describe('testground params', () => {
  it('packs params like testground (k=v|k=v)', () => {
    assert.equal(packParams({ b: '2', a: '1' }), 'a=1|b=2')
  })
  it('parses Go durations', () => {
    assert.equal(parseGoDuration('1m30s'), 90_000)
    assert.equal(parseGoDuration('250ms'), 250)
    assert.equal(parseGoDuration('0'), 0)
    assert.throws(() => parseGoDuration('5'), /not a duration/)
  })
})
