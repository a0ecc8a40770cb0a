// VIRTIOFWD_SOCKET_OWNER/GROUP: names resolved through the system's user
// and group databases (NSS: files, LDAP, ...), handed to the dataplane as
// numbers. It gives every vhost-user socket it creates (server mode) that
// owner and group, mode 0660, so that QEMU running as that user can connect.
import { execa } from 'execa';
import type { Logger } from '@vio4wd/common';

export interface SocketIds {
  uid: number | null;
  gid: number | null;
}

/** The numeric id of a user or group name, or null when there is none. */
async function lookUp(db: 'passwd' | 'group', name: string): Promise<number | null> {
  if (/^\d+$/.test(name)) return Number(name);
  const r = await execa('getent', [db, name], { reject: false, stdin: 'ignore' });
  if (r.exitCode !== 0) return null;
  const id = Number(r.stdout.split(':')[2]);
  return Number.isInteger(id) && id >= 0 ? id : null;
}

export async function resolveSocketIds(owner: string, group: string, log: Logger): Promise<SocketIds> {
  const [uid, gid] = await Promise.all([
    owner === '' ? null : lookUp('passwd', owner),
    group === '' ? null : lookUp('group', group),
  ]);
  // The defaults (libvirt-qemu, kvm) name libvirt's accounts: on a host
  // without them the sockets stay root's, and the VM must run as root.
  if (owner !== '' && uid === null)
    log.warning(`VIRTIOFWD_SOCKET_OWNER: no user '${owner}' on this host; vhost-user sockets keep their owner`);
  if (group !== '' && gid === null)
    log.warning(`VIRTIOFWD_SOCKET_GROUP: no group '${group}' on this host; vhost-user sockets keep their group`);
  return { uid, gid };
}

export function socketIdArgs(ids: SocketIds): string[] {
  return [
    ...(ids.uid !== null ? ['--socket-owner', String(ids.uid)] : []),
    ...(ids.gid !== null ? ['--socket-group', String(ids.gid)] : []),
  ];
}
