// User and group names as the host resolves them (NSS: files, LDAP, ...),
// through getent: Node.js has no NSS lookup of its own.
import { execFile } from 'node:child_process';

/** The numeric id of a user or group name (a number stands for itself), or null when there is none. */
export async function lookUpId(db: 'passwd' | 'group', name: string): Promise<number | null> {
  if (/^\d+$/.test(name)) return Number(name);
  const out = await new Promise<string | null>((resolve) => {
    execFile('getent', [db, name], { encoding: 'utf8' }, (err, stdout) => resolve(err ? null : stdout));
  });
  if (out === null) return null;
  const id = Number(out.split(':')[2]);
  return Number.isInteger(id) && id >= 0 ? id : null;
}
