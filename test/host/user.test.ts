/** host/user.ts: a component user resolved from temp passwd/group files; who may switch to it. */
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { UnknownUserError, UserSwitchError } from '../../host/errors.js'
import { checkUserSwitch, resolveUser, type UserFiles } from '../../host/user.js'

const PASSWD = [
  '# comment line',
  'root:x:0:0:root:/root:/bin/bash',
  'mycel:x:998:997::/var/lib/mycel:/usr/sbin/nologin',
  'web:x:1001:1001:web user:/srv/web:/bin/sh',
  '',
  'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin'
].join('\n')
const GROUP = ['root:x:0:', 'mycel:x:997:', 'www-data:x:33:web', 'nogroup:x:65534:'].join('\n')

describe('host/user', () => {
  let dir: string
  let files: UserFiles
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mycel-user-'))
    files = { passwd: join(dir, 'passwd'), group: join(dir, 'group') }
    await writeFile(files.passwd as string, PASSWD)
    await writeFile(files.group as string, GROUP)
  })
  after(async () => { await rm(dir, { recursive: true, force: true }) })

  it('a name takes uid and primary gid from passwd', async () => {
    assert.deepEqual(await resolveUser('mycel', files), { name: 'mycel', uid: 998, gid: 997 })
    assert.deepEqual(await resolveUser('nobody', files), { name: 'nobody', uid: 65534, gid: 65534 })
  })

  it('name:group and uid:group look the group up; uid:gid is taken as is', async () => {
    assert.deepEqual(await resolveUser('web:www-data', files), { name: 'web', uid: 1001, gid: 33 })
    assert.deepEqual(await resolveUser('1001:www-data', files), { name: '1001', uid: 1001, gid: 33 })
    assert.deepEqual(await resolveUser('5000:5001', files), { name: '5000', uid: 5000, gid: 5001 })
  })

  it('a bare uid takes its passwd gid, or the same number when passwd does not know it', async () => {
    assert.deepEqual(await resolveUser('998', files), { name: '998', uid: 998, gid: 997 })
    assert.deepEqual(await resolveUser('4242', files), { name: '4242', uid: 4242, gid: 4242 })
  })

  it('an unknown user or group, a malformed spec, an out-of-range id → UnknownUserError naming it', async () => {
    await assert.rejects(resolveUser('ghost', files), (e: Error) => e.name === 'UnknownUserError' && e instanceof UnknownUserError && e.message.includes('"ghost"') && e.message.includes(files.passwd as string))
    await assert.rejects(resolveUser('web:nogroup2', files), (e: Error) => e.name === 'UnknownUserError' && e.message.includes('"nogroup2"'))
    for (const bad of ['', 'a b', 'web:', ':1', '1:2:3', '../etc', '4294967295', '99999999999']) {
      await assert.rejects(resolveUser(bad, files), (e: Error) => e.name === 'UnknownUserError', bad)
    }
  })

  it('any uid:gid pair in range resolves to exactly those numbers', async () => {
    await fc.assert(fc.asyncProperty(fc.integer({ min: 0, max: 0xfffffffe }), fc.integer({ min: 0, max: 0xfffffffe }), async (u, g) => {
      const r = await resolveUser(`${u}:${g}`, files)
      assert.equal(r.uid, u)
      assert.equal(r.gid, g)
    }), { numRuns: 50 })
  })

  it('only root switches; anyone may run a component as exactly itself', () => {
    const web = { name: 'web', uid: 1001, gid: 1001 }
    checkUserSwitch(web, 0, 0)
    checkUserSwitch(web, 1001, 1001)
    assert.throws(() => { checkUserSwitch(web, 998, 997) }, (e: Error) => e instanceof UserSwitchError && e.name === 'UserSwitchError' && e.message.includes('not root'))
    assert.throws(() => { checkUserSwitch(web, 1001, 5) }, UserSwitchError)
  })
})
