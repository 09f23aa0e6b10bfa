/**
 * `mycel core …`: mycel's own core as a component (docs/core-update.md).
 *
 *   pack --out DIR [--build-version X]
 *                                  a core build archive directory from the
 *                                  running install: its package.json (at
 *                                  version X), dist/, and a manifest; no
 *                                  node_modules (the host links the
 *                                  installed ones). Publish it with
 *                                  `mycel component publish DIR --key FILE`
 *                                  and deploy it as `mycel@X`.
 */
import { cp, mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import type { Command } from 'commander'
import { componentVersion } from '../../protocols/artifacts/manifest.js'
import { CORE_COMPONENT, MANIFEST_FILE } from '../../protocols/artifacts/constants.js'
import { UsageError } from '../errors.js'
import { INSTALL_ROOT, VERSION } from '../version.js'
import { print } from './output.js'

/** Make DIR a core build of `version` from the install at `root`; DIR must be absent or empty. */
export async function packCore (root: string, out: string, version: string): Promise<void> {
  const checked = componentVersion.safeParse(version)
  if (!checked.success) throw new UsageError(`--build-version ${JSON.stringify(version.slice(0, 80))}: ${checked.error.issues[0]?.message ?? 'invalid'}`)
  const entries = await readdir(out).catch((err: NodeJS.ErrnoException) => { if (err.code === 'ENOENT') return []; throw err })
  if (entries.length > 0) throw new UsageError(`${out} is not empty: pack into a new directory`)
  const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as Record<string, unknown>
  await mkdir(out, { recursive: true })
  await writeFile(join(out, 'package.json'), `${JSON.stringify({ ...pkg, version }, null, 2)}\n`)
  await cp(join(root, 'dist'), join(out, 'dist'), { recursive: true })
  await writeFile(join(out, MANIFEST_FILE), [
    '# A mycel core build (mycel core pack). The component host hands it to the launcher,',
    '# which starts dist/daemon/cli.js agent; `entry` is required of every manifest but unused for the core.',
    `name: ${CORE_COMPONENT}`,
    `version: ${version}`,
    'entry: ["dist/daemon/cli.js", "agent"]',
    ''
  ].join('\n'))
}

export function registerCoreCommands (program: Command): void {
  const core = program.command('core').description('mycel\'s own core as a component: make a core build to publish and deploy as mycel@VERSION')
  core.command('pack')
    .description('make DIR a core build archive directory from this install (package.json, dist/, mycel.component.yaml; no node_modules)')
    .requiredOption('--out <dir>', 'the directory to create (absent or empty)')
    // Not --version: that is the program's own flag (mycel --version), wherever it stands.
    .option('--build-version <semver>', `the version the build reports (default this install's, ${VERSION})`)
    .action(async (opts: { out: string, buildVersion?: string }) => {
      const out = resolve(opts.out)
      const version = opts.buildVersion ?? VERSION
      await packCore(INSTALL_ROOT, out, version)
      print(`core build ${CORE_COMPONENT}@${version} in ${out}\npublish it: mycel component publish ${out} --key FILE\ndeploy it:  mycel component deploy ${CORE_COMPONENT}@${version}\n`)
    })
}
