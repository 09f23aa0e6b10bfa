// tsc does not keep the executable bit; the CLI is the package's bin.
import { chmodSync, existsSync } from 'node:fs'
for (const f of ['dist/daemon/cli.js', 'dist/testground/runner/cli.js']) {
  if (existsSync(f)) chmodSync(f, 0o755)
}
