// The test topology: a forwarder whose VF is a memif client aliased to a
// PCI-looking address, a testpmd memif server as the VF's far end, and a
// testpmd virtio_user as the VM. Everything started is stopped by cleanUp().
import fs from 'node:fs';
import path from 'node:path';
import { DataplaneClient } from '@vio4wd/common';
import { Forwarder, cleanDpdkRuntime, type ForwarderOptions } from './forwarder.js';
import { Testpmd } from './testpmd.js';

export const VF_PCI = '0000:ff:00.1';

export class Topology {
  private readonly cleanups: (() => Promise<void>)[] = [];
  readonly memif: string;
  private readonly memifArgs: string;
  readonly vhost: string;
  readonly fwd: Forwarder;

  constructor(
    readonly tag: string,
    opts: Omit<ForwarderOptions, 'extra'> & {
      extra?: string[];
      /** more PCI=devargs aliases */ aliases?: string[];
      /** log2 of the VF's memif ring size (DPDK's default: 10) */ vfRingLog2?: number;
    },
  ) {
    const dir = Forwarder.scratch(tag);
    this.memif = path.join(dir, 'memif.sock');
    this.memifArgs = `socket=${this.memif},socket-abstract=no${opts.vfRingLog2 ? `,rsize=${opts.vfRingLog2}` : ''}`;
    this.vhost = path.join(dir, 'vm.sock');
    this.fwd = Forwarder.write(dir, {
      ...opts,
      extra: [
        `VIRTIOFWD_DEVICE_ALIASES=(${VF_PCI}=net_memif0,role=client,${this.memifArgs} ${(opts.aliases ?? []).join(' ')})`,
        ...(opts.extra ?? []),
      ],
    });
    this.cleanups.push(async () => {
      await this.fwd.stop();
      cleanDpdkRuntime(`vio4wd-${path.basename(dir)}`);
      fs.rmSync(dir, { recursive: true, force: true });
    });
  }

  /** The VF's far end; must run before the relay's memif client connects. */
  startVfPeer(): Promise<Testpmd> {
    return this.peer(`${this.tag}-vf`, `net_memif0,role=server,${this.memifArgs}`);
  }

  /** The VM: virtio_user, connecting to the relay (server mode) or waiting for it (vhost client mode). */
  /** opts.args: more net_virtio_user device arguments (packed_vq=1, in_order=1, mrg_rxbuf=0, ...). */
  startVm(name = 'vm', opts: { server?: boolean; args?: string } = {}): Promise<Testpmd> {
    return this.peer(`${this.tag}-${name}`, `net_virtio_user0,path=${this.vhost}${opts.server ? ',server=1' : ''}${opts.args ? `,${opts.args}` : ''}`);
  }

  private async peer(name: string, vdev: string): Promise<Testpmd> {
    const t = await Testpmd.start(name, vdev);
    this.cleanups.push(async () => {
      await t.quit();
      cleanDpdkRuntime(t.filePrefix);
    });
    return t;
  }

  async addSock(): Promise<void> {
    const r = await this.fwd.portctl('add_sock', `--vhost-path=${this.vhost}`, `--pci-addr=${VF_PCI}`);
    if (r.exitCode !== 0) throw new Error(`add_sock failed (${String(r.exitCode)}): ${r.stderr}`);
  }

  async relay(id = 0) {
    const r = (await this.fwd.stats()).relay.find((x) => x.id === id);
    if (!r) throw new Error(`relay ${id} missing from stats`);
    return r;
  }

  /** The relay as the dataplane reports it (negotiated features, VF MTU). */
  async dataplaneRelay(id = 0) {
    const client = new DataplaneClient(path.join(this.fwd.dir, 'dataplane.sock'));
    await client.connect();
    try {
      const r = (await client.stats(id)).relays[0];
      if (!r) throw new Error(`relay ${id} missing from the dataplane`);
      return r;
    } finally {
      client.close();
    }
  }

  /**
   * Stops the forwarder first, then the peers: DPDK 22.11's memif PMD unmaps
   * a ring when its peer disconnects without waiting for a poller inside it,
   * so a memif peer must not leave while the relay still polls.
   */
  async cleanUp(): Promise<void> {
    const [stopForwarder, ...peers] = this.cleanups;
    await stopForwarder?.().catch(() => undefined);
    for (const f of peers.reverse()) await f().catch(() => undefined);
    this.cleanups.length = 0;
  }
}
