/**
 * Layering rules (`npm run lint:deps`). Dependencies point down:
 *
 *   launcher, lib ← wire ← crdt ← protocols ← policy ← host, managers ← daemon
 *
 * launcher/ (the core update launcher, docs/core-update.md) is below them
 * all and stands alone: Node's built-ins and its own files only, so the
 * program deploy/mycel.service runs never loads the agent's code or its
 * dependencies.
 * A layer may import any layer below it and its own, never one above; no
 * cycles anywhere. The product never imports test/, bench/, harness/ or
 * testground/; bench/ never imports test/, and test/ never imports bench/
 * (the agent-process driver both need lives in harness/).
 * There is no file of known violations: a rule that does not hold fails.
 * Runs in `npm test`; the layout and the reasons: docs/architecture.md.
 */
const layers = ['launcher', 'lib', 'wire', 'crdt', 'protocols', 'policy', 'host', 'managers', 'daemon']
/** What each layer must not import: every layer above it (host and managers are siblings). */
const above = {
  lib: ['wire', 'crdt', 'protocols', 'policy', 'host', 'managers', 'daemon'],
  wire: ['crdt', 'protocols', 'policy', 'host', 'managers', 'daemon'],
  crdt: ['protocols', 'policy', 'host', 'managers', 'daemon'],
  protocols: ['policy', 'host', 'managers', 'daemon'],
  policy: ['host', 'managers', 'daemon'],
  host: ['managers', 'daemon'],
  managers: ['host', 'daemon']
}

const product = `^(${layers.join('|')})/`

module.exports = {
  forbidden: [
    {
      name: 'launcher-stands-alone',
      comment: 'launcher/ imports only Node built-ins and launcher/ (it must run whatever core build is installed)',
      severity: 'error',
      from: { path: '^launcher/' },
      to: { dependencyTypesNot: ['core'], pathNot: '^launcher/' }
    },
    ...Object.entries(above).map(([layer, forbiddenLayers]) => ({
      name: `${layer}-points-down`,
      comment: `${layer}/ may not import ${forbiddenLayers.join(', ')} (dependencies point down)`,
      severity: 'error',
      from: { path: `^${layer}/` },
      to: { path: `^(${forbiddenLayers.join('|')})/` }
    })),
    {
      name: 'no-cycles',
      comment: 'no import cycles, inside a layer or across layers',
      severity: 'error',
      from: { path: product },
      to: { circular: true }
    },
    {
      name: 'product-not-from-tools',
      comment: 'the product never imports tests, benchmarks, the harness or the testground runner',
      severity: 'error',
      from: { path: product },
      to: { path: '^(test|bench|harness|testground)/' }
    },
    {
      name: 'bench-not-from-test',
      comment: 'benchmarks never import tests',
      severity: 'error',
      from: { path: '^bench/' },
      to: { path: '^test/' }
    },
    {
      name: 'test-not-from-bench',
      comment: 'tests never import benchmarks (what both need lives in harness/)',
      severity: 'error',
      from: { path: '^test/', pathNot: '^test/bench/' },
      to: { path: '^bench/' }
    },
    {
      name: 'not-to-unresolvable',
      comment: 'every import resolves',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true }
    }
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|node_modules)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.depcruise.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'] }
  }
}
