/** The shared simulation harness lives in harness/sim (bench/ uses it too and may not import test/). */
export * from '../../harness/sim/trace.js'
