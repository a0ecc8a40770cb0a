// VIRTIOFWD_SOCKET_OWNER/GROUP: names resolved through the system's user
// and group databases (NSS: files, LDAP, ...), handed to the dataplane as
// numbers. It gives every vhost-user socket it creates (server mode) that
// owner and group, mode 0660, so that QEMU running as that user can connect.
import { lookUpId, type Logger } from '@vio4wd/common';

export interface SocketIds {
  uid: number | null;
  gid: number | null;
}

export async function resolveSocketIds(owner: string, group: string, log: Logger): Promise<SocketIds> {
  const [uid, gid] = await Promise.all([
    owner === '' ? null : lookUpId('passwd', owner),
    group === '' ? null : lookUpId('group', group),
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
