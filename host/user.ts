/**
 * The unprivileged user a component runs as, when the agent runs as root
 * (Nomad's `user`, Habitat's `pkg_svc_user`): a name or `uid[:gid]`,
 * resolved from /etc/passwd and /etc/group — plain files, no native module
 * and no NSS (LDAP or sssd users are not seen; give them as numbers).
 *
 * Only root may switch users. An agent that is not root and is asked for
 * another user refuses (`UserSwitchError`) instead of running the component
 * as itself: running it as the agent's user would hand it the agent's
 * identity key. Asked for its own uid it needs no switch.
 */
import { readFile } from 'node:fs/promises'
import { UnknownUserError, UserSwitchError } from './errors.js'

export interface ComponentUser {
  /** As given (a name, or the uid when given as numbers). */
  name: string
  uid: number
  gid: number
}

export interface UserFiles {
  /** @default '/etc/passwd' */
  passwd?: string
  /** @default '/etc/group' */
  group?: string
}

const NUMERIC = /^(\d{1,10})(?::(\d{1,10}|[a-z_][a-z0-9_.-]*\$?))?$/
const NAME = /^[a-z_][a-z0-9_.-]*\$?(?::(\d{1,10}|[a-z_][a-z0-9_.-]*\$?))?$/i
/** uid_t is 32 bits; (uid_t)-1 means "unchanged" to setuid and is never a user. */
const MAX_ID = 0xfffffffe

/** `name:x:uid:gid:...` lines, comments and blank lines skipped. */
function entries (text: string): string[][] {
  return text.split('\n').filter(l => l.trim() !== '' && !l.startsWith('#')).map(l => l.split(':'))
}

function id (text: string, what: string, spec: string): number {
  const n = Number(text)
  if (!Number.isSafeInteger(n) || n < 0 || n > MAX_ID) throw new UnknownUserError(`component user ${JSON.stringify(spec)}: ${what} ${text} is out of range`)
  return n
}

/**
 * Resolve `spec` (`name`, `name:group`, `uid`, `uid:gid`, `uid:group`):
 * a name must be in the passwd file, a group name in the group file; a
 * bare uid takes its passwd entry's gid, or the same number when it has none.
 */
export async function resolveUser (spec: string, files: UserFiles = {}): Promise<ComponentUser> {
  const s = spec.trim()
  if (!NUMERIC.test(s) && !NAME.test(s)) throw new UnknownUserError(`component user ${JSON.stringify(spec)}: expected a name or uid[:gid]`)
  const [userPart, groupPart] = s.split(':') as [string, string | undefined]
  const passwd = entries(await readFile(files.passwd ?? '/etc/passwd', 'utf8'))
  let uid: number
  let gid: number | undefined
  if (/^\d+$/.test(userPart)) {
    uid = id(userPart, 'uid', spec)
    const e = passwd.find(f => f[2] === String(uid))
    gid = e !== undefined ? id(e[3], 'gid', spec) : undefined
  } else {
    const e = passwd.find(f => f[0] === userPart)
    if (e === undefined || e.length < 4) throw new UnknownUserError(`component user ${JSON.stringify(userPart)} is not in ${files.passwd ?? '/etc/passwd'}`)
    uid = id(e[2], 'uid', spec)
    gid = id(e[3], 'gid', spec)
  }
  if (groupPart !== undefined) {
    if (/^\d+$/.test(groupPart)) gid = id(groupPart, 'gid', spec)
    else {
      const g = entries(await readFile(files.group ?? '/etc/group', 'utf8')).find(f => f[0] === groupPart)
      if (g === undefined || g.length < 3) throw new UnknownUserError(`component group ${JSON.stringify(groupPart)} is not in ${files.group ?? '/etc/group'}`)
      gid = id(g[2], 'gid', spec)
    }
  }
  return { name: userPart, uid, gid: gid ?? uid }
}

/**
 * May an agent with effective uid `euid` run a component as `user`? Root
 * may; anyone may run it as itself (same uid and gid, no switch); otherwise
 * `UserSwitchError`.
 */
export function checkUserSwitch (user: ComponentUser, euid: number, egid: number): void {
  if (euid === 0) return
  if (user.uid === euid && user.gid === egid) return
  throw new UserSwitchError(`component user ${user.name} (uid ${user.uid}, gid ${user.gid}): the agent runs as uid ${euid}, not root, and cannot switch to it; run the agent as root or drop the component user setting`)
}
