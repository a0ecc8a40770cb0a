// Whether this process can reach the forwarder's ipc endpoints at all: they
// are root:VIRTIOFWD_SOCKET_GROUP 0660, and the service reaches them through
// that group (its unit's SupplementaryGroups=). Nothing a restart can fix.
import fs from 'node:fs';
import { ipcPath, lookUpId } from '@vio4wd/common';

const UNIT = 'vio4wd_core_scheduler';
const UNIT_GROUP = 'kvm';

/**
 * What stops this process from ever reaching the endpoints, each saying what
 * to do: a socket group that does not exist, an endpoint that is there but
 * refuses this process. An endpoint not there yet is not a problem (the
 * forwarder may start later).
 */
export async function accessProblems(group: string, endpoints: string[]): Promise<string[]> {
  const ipc = endpoints.map(ipcPath).filter((p): p is string => p !== undefined);
  if (ipc.length === 0) return [];
  const problems: string[] = [];
  if (group !== '' && (await lookUpId('group', group)) === null)
    problems.push(`VIRTIOFWD_SOCKET_GROUP=${group}: no such group on this host; the forwarder's ipc endpoints are reached through it ` +
      `(create it, e.g. groupadd --system ${group}, or name an existing group)`);
  for (const p of [...new Set(ipc)]) {
    try {
      fs.accessSync(p, fs.constants.R_OK | fs.constants.W_OK);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'EACCES' && code !== 'EPERM') continue;
      problems.push(`ipc://${p}: permission denied: the endpoints are root:${group || 'root'} 0660 (VIRTIOFWD_SOCKET_GROUP) and this process is not in that group; ` +
        `${UNIT}.service has SupplementaryGroups=${UNIT_GROUP}: for another group, add a drop-in (systemctl edit ${UNIT}: [Service] SupplementaryGroups=${group || 'root'})`);
    }
  }
  return problems;
}
