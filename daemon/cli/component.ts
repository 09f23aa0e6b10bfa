/**
 * `mycel component …`: components (docs/components.md).
 *
 *   publish DIR --key FILE   read and check DIR/mycel.component.yaml, pack DIR
 *                            (the deterministic archive), sign the manifest
 *                            with the publisher key, and hand both to the
 *                            local agent, which verifies and stores them
 *   list                     the releases the local agent knows
 *   status [NAME]            every node of the region: what runs, its state and health
 *
 * Everything that can be checked here is checked before the agent is asked:
 * a manifest that breaks the schema (naming the key), a missing or damaged
 * key, a directory that cannot be packed all exit 2 with one line.
 */
import { resolve } from 'node:path'
import type { Command } from 'commander'
import { componentName, readManifest } from '../../protocols/artifacts/manifest.js'
import type { StatusEntry } from '../api/routes/components.js'
import { packDirectory } from '../../protocols/artifacts/archive.js'
import { loadPublisherKey } from '../../protocols/artifacts/publisher-key.js'
import { addressArchive, signManifest } from '../../protocols/artifacts/signed-manifest.js'
import { RELEASE_CONTENT_TYPE, encodeRelease } from '../api/release-body.js'
import { apiClient, type ApiFlags } from './client.js'
import { apiOption, tokenFileOption } from './options.js'
import { ago, print, printJson, printTable, shortId } from './output.js'
import { UsageError } from '../errors.js'

/**
 * How long publish waits for the agent, ms: the upload, hashing and
 * chunking, and the fsyncs of every block directory and the manifest. At
 * the 1 GiB archive limit that is well under a minute on a local disk; ten
 * leave room for a slow one without hanging forever.
 */
const PUBLISH_TIMEOUT_MS = 10 * 60_000

interface Release { name: string, version: string, publisher: string, archive: { cid: string, size: number }, publishedAt: string }
interface Published extends Release { known: boolean }

/** The `component` command group with publish and list; returned so the deployment commands join it. */
export function registerComponentCommands (program: Command): Command {
  const component = program.command('component').description('components: publish and list releases, deploy and undeploy them')

  component.command('publish')
    .description('pack DIR, sign its manifest (DIR/mycel.component.yaml) with a publisher key, and store it on the local agent')
    .argument('<dir>', 'the component directory')
    .requiredOption('--key <file>', 'the publisher key file (mycel publisher keygen)')
    .addOption(apiOption()).addOption(tokenFileOption())
    .option('--json', 'print the stored release as JSON')
    .action(async (dir: string, opts: ApiFlags & { key: string, json?: boolean }) => {
      const root = resolve(dir)
      const manifest = await readManifest(root)
      const key = await loadPublisherKey(resolve(opts.key)).catch((err: unknown) => {
        // A damaged key named on the command line is a bad argument (exit 2), as for `publisher id`.
        throw (err as Error).name === 'CorruptFileError' ? new UsageError((err as Error).message) : err
      })
      const archive = await collect(await packDirectory(root))
      const signed = await signManifest(manifest, await addressArchive(archive), key.privateKey, key.publisherId)
      const r = await apiClient(opts).postBytes<Published>('/v1/components', encodeRelease(signed, archive), RELEASE_CONTENT_TYPE,
        AbortSignal.timeout(PUBLISH_TIMEOUT_MS))
      if (opts.json === true) { printJson(r); return }
      print(`${r.name}@${r.version} ${r.known ? 'already published' : 'published'}: archive ${r.archive.cid} (${r.archive.size} bytes)\n`)
    })

  component.command('list')
    .alias('ls')
    .description('the component releases the local agent knows')
    .addOption(apiOption()).addOption(tokenFileOption())
    .option('--json', 'machine-readable output')
    .action(async (opts: ApiFlags & { json?: boolean }) => {
      const r = await apiClient(opts).get<{ components: Release[] }>('/v1/components')
      if (opts.json === true) { printJson(r); return }
      if (r.components.length === 0) { print('no components published\n'); return }
      printTable(r.components, [
        { header: 'NAME', value: c => c.name },
        { header: 'VERSION', value: c => c.version },
        { header: 'PUBLISHER', value: c => shortId(c.publisher) },
        { header: 'SIZE', value: c => String(c.archive.size) },
        { header: 'PUBLISHED', value: c => `${ago(c.publishedAt)} ago` },
        { header: 'ARCHIVE', value: c => c.archive.cid }
      ])
    })
  component.command('status')
    .description('every node of the region: the components it runs, their state and health (from signed health reports)')
    .argument('[name]', 'only this component')
    .addOption(apiOption()).addOption(tokenFileOption())
    .option('--local', 'only this node (the agent --api names), live rather than from health reports')
    .option('--json', 'one JSON entry per (node, component): {node, name, version, state, pid, restarts, health, since}')
    .action(async (name: string | undefined, opts: ApiFlags & { json?: boolean, local?: boolean }) => {
      if (name !== undefined) {
        const problem = componentName.safeParse(name)
        if (!problem.success) throw new UsageError(`invalid component name ${JSON.stringify(name.slice(0, 80))}: ${problem.error.issues[0].message}`)
      }
      const q = name !== undefined ? `?name=${encodeURIComponent(name)}` : ''
      const r = await apiClient(opts).get<{ region: string, entries: StatusEntry[] }>(`/v1/components/status${q}${opts.local === true ? `${q === '' ? '?' : '&'}local=1` : ''}`)
      if (opts.json === true) {
        printJson(r.entries.map(e => ({ node: e.node, name: e.name, version: e.version, state: e.state, pid: e.pid ?? null, restarts: e.restarts, health: e.health, since: new Date(e.since).toISOString(), ...(e.reason !== undefined ? { reason: e.reason } : {}), ...(e.stale ? { stale: true } : {}) })))
        return
      }
      if (r.entries.length === 0) { print(name !== undefined ? `no node of region ${r.region} runs ${name}\n` : `no node of region ${r.region} runs a component\n`); return }
      printTable(r.entries, [
        { header: 'NODE', value: e => shortId(e.node) },
        { header: 'NAME', value: e => e.name },
        { header: 'VERSION', value: e => e.version },
        { header: 'STATE', value: e => e.stale ? `${e.state} (stale)` : e.state },
        { header: 'HEALTH', value: e => e.health },
        { header: 'PID', value: e => e.pid !== undefined ? String(e.pid) : '-' },
        { header: 'RESTARTS', value: e => String(e.restarts) },
        { header: 'SINCE', value: e => `${ago(new Date(e.since).toISOString())} ago` },
        { header: 'REASON', value: e => e.reason ?? '' }
      ])
    })
  return component
}

async function collect (source: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Uint8Array[] = []
  for await (const c of source) chunks.push(c)
  return Buffer.concat(chunks)
}
