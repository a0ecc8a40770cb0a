// What the pinner and the load monitor show: per worker CPU, the relay
// directions it serves, read from the stats endpoint.
import { ReqClient, StatsStatus, wire, type StatsResponse } from '@vio4wd/common';

export interface WorkerView {
  cpu: number;
  /** Relays whose VF->VM / VM->VF direction this CPU serves. */
  vfToVm: number[];
  vmToVf: number[];
}

/** The worker CPUs (those the forwarder reports, plus any a relay names) and their relays. */
export function cpuMap(rep: StatsResponse): WorkerView[] {
  const views = new Map<number, WorkerView>();
  const view = (cpu: number) => {
    let v = views.get(cpu);
    if (!v) views.set(cpu, (v = { cpu, vfToVm: [], vmToVf: [] }));
    return v;
  };
  for (const w of rep.worker) view(w.cpu);
  for (const r of rep.relay) {
    if (r.cpu?.vf_to_vm !== undefined && r.cpu.vf_to_vm >= 0) view(r.cpu.vf_to_vm).vfToVm.push(r.id);
    if (r.cpu?.vm_to_vf !== undefined && r.cpu.vm_to_vf >= 0) view(r.cpu.vm_to_vf).vmToVf.push(r.id);
  }
  return [...views.values()].sort((a, b) => a.cpu - b.cpu);
}

const list = (ids: number[]) => (ids.length ? [...ids].sort((a, b) => a - b).join(',') : '-');

export function formatView(v: WorkerView): string {
  return `VM->VF ${list(v.vmToVf)}  VF->VM ${list(v.vfToVm)}`;
}

/** One stats sample (no delay: the endpoint is never held up by us). */
export async function readStats(client: ReqClient): Promise<StatsResponse> {
  const rep = wire.StatsResponse.decode(await client.request(wire.StatsRequest.encode({ relay: [], include_inactive: true, delay: 0 })));
  if (rep.status !== StatsStatus.OK) throw new Error(`the stats endpoint refused (status ${rep.status})`);
  return rep;
}
