// The harness lives with the benchmarks (compiled into dist/bench) so tests
// and benchmarks drive agents the same way.
export * from '../../bench/lib/agent-process.js'
