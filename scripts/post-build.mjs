// tsc does not keep the executable bit; the CLI and the launcher are the package's bins.
import { chmodSync, existsSync } from 'node:fs'
for (const f of ['dist/daemon/cli.js', 'dist/launcher/main.js', 'dist/testground/runner/cli.js']) {
  if (existsSync(f)) chmodSync(f, 0o755)
}
