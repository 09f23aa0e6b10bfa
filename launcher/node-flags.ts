/**
 * V8 flags every agent process runs with: the launcher passes them when it
 * starts a core build (deploy/mycel.service runs the launcher), and the
 * `mycel` bin's `#!` line (daemon/cli.ts, `env -S`) carries the same list,
 * which a test compares; the harness and the benchmarks read that line
 * (harness/node-command.ts).
 *
 * `--max-semi-space-size=1` (MiB): V8 sizes the young generation for
 * throughput, up to 16 MiB per semi-space, and an agent's steady trickle of
 * short-lived garbage (decoded frames, events, promises) filled it: at N=8
 * on loopback the median agent's RSS was 151 MB with V8's default and 131 MB
 * with this flag (docs/performance.md). Scavenges get more frequent but
 * each is cheap, since an idle agent keeps little alive between them.
 * `--optimize-for-size` saved 11 MB more but cost about a third more CPU:
 * not used.
 *
 * `--single-threaded-gc`: V8 marks and scavenges on helper threads next to
 * the main one. An agent's heap is small (tens of MB), so the helpers buy a
 * few milliseconds of pause at most, and they cost CPU in hand-offs and
 * wake-ups: three networks of 20 side by side on two cores idled at 0.80 %
 * of a core per agent with them and 0.72 % without, and a lone agent was
 * ready after 0.35 s of CPU instead of 0.37-0.39 s (docs/performance.md,
 * sixteenth pass). Where many agents share a host, as in testground, the
 * hand-offs are pure overhead.
 */
export const AGENT_NODE_FLAGS: readonly string[] = Object.freeze(['--max-semi-space-size=1', '--single-threaded-gc'])
