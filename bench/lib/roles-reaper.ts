/**
 * Safety net for the roles test and benchmark: AgentProcess.start() leaves
 * the child running when it times out (no handle is returned), which on a
 * loaded machine orphans agents. We give every agent a data dir we created,
 * and at the end SIGKILL any process whose command line still names one.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export class AgentReaper {
  private readonly dirs: string[] = []

  async dataDir (prefix = 'mycel-roles-'): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), prefix))
    this.dirs.push(dir)
    return dir
  }

  /** Kill every process still running with one of our data dirs, then remove the dirs. */
  async reap (): Promise<number> {
    let killed = 0
    const pids = await readdir('/proc').catch(() => [] as string[])
    for (const pid of pids) {
      if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue
      let cmd: string
      try { cmd = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').join(' ') } catch { continue }
      if (!cmd.includes(' agent ')) continue
      if (this.dirs.some(d => cmd.includes(`--data-dir ${d} `))) {
        try { process.kill(Number(pid), 'SIGKILL'); killed++ } catch { /* already gone */ }
      }
    }
    await Promise.all(this.dirs.map(async d => { await rm(d, { recursive: true, force: true }) }))
    return killed
  }
}
