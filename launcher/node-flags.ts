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
 */
export const AGENT_NODE_FLAGS: readonly string[] = Object.freeze(['--max-semi-space-size=1'])
