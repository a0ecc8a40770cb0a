// The core scheduling endpoint against a fake dataplane: only worker CPUs,
// every entry checked before anything moves, the table remembers the move.
import { describe, expect, test } from '@jest/globals';
import { ConfigStatus, CoreSchedOp, CoreSchedStatus } from '@vio4wd/common';
import { CoreSched, RelayTable, type CpuDriver, type RelaySpec } from '@vio4wd/forwarder';
import { captureLog } from '../../lib/log-capture.js';

class FakeCpus implements CpuDriver {
  readonly where = new Map<number, [number, number]>();
  readonly moves: string[] = [];

  async setCpu(id: number, cpu: [number, number]): Promise<void> {
    this.moves.push(`${id}:${cpu.join(',')}`);
    this.where.set(id, cpu);
  }

  async relayCpus(): Promise<Map<number, [number, number]>> {
    return new Map(this.where);
  }
}

const relay = (id: number): RelaySpec => ({ id, pcis: [`0000:05:00.${id}`], devices: [`0000:05:00.${id}`], vhostPath: `/tmp/x${id}.sock`, vhostClient: true, origin: 'add' });

function setUp() {
  const table = new RelayTable();
  table.set(relay(0));
  table.set(relay(3));
  const cpus = new FakeCpus();
  cpus.where.set(3, [2, 2]);
  cpus.where.set(0, [1, 2]);
  const { log, lines } = captureLog();
  return { cs: new CoreSched([1, 2, 5], table, cpus, log), table, cpus, lines };
}
const entry = (relay_number: number, vf2virtio_cpu: number, virtio2vf_cpu: number) => ({ relay_number, vf2virtio_cpu, virtio2vf_cpu });

describe('CoreSched', () => {
  test('GET_EAL_CORES answers the worker CPUs', async () => {
    expect(await setUp().cs.handle({ op: CoreSchedOp.GET_EAL_CORES, relay_cpu_map: [] })).toEqual({ status: CoreSchedStatus.OK, eal_cores: [1, 2, 5] });
  });

  test('UPDATE moves each relay and the table keeps its CPUs for a restart', async () => {
    const { cs, table, cpus } = setUp();
    const reply = await cs.handle({ op: CoreSchedOp.UPDATE, relay_cpu_map: [entry(0, 5, 1), entry(3, 1, 5)] });
    expect(reply).toEqual({ status: CoreSchedStatus.OK, eal_cores: [] });
    expect(cpus.moves).toEqual(['0:5,1', '3:1,5']);
    expect(table.get(0)?.cpu).toEqual([5, 1]);
    expect(table.get(3)?.cpu).toEqual([1, 5]);
  });

  test.each([
    ['a CPU that is not a worker', [entry(0, 5, 1), entry(3, 0, 1)], 22],
    ['a relay named twice', [entry(0, 5, 1), entry(0, 1, 1)], 22],
    ['a relay number out of range', [entry(0, 5, 1), entry(64, 1, 1)], 22],
    ['a negative relay number', [entry(-1, 1, 1)], 22],
    ['a relay that does not exist', [entry(0, 5, 1), entry(4, 1, 1)], 2],
  ])('%s refuses the whole update: nothing moves', async (_what, map, code) => {
    const { cs, cpus, table, lines } = setUp();
    const reply = await cs.handle({ op: CoreSchedOp.UPDATE, relay_cpu_map: map });
    expect(reply).toMatchObject({ status: CoreSchedStatus.ERROR, error_code: code, eal_cores: [] });
    expect(cpus.moves).toEqual([]);
    expect(table.get(0)?.cpu).toBeUndefined();
    expect(lines.filter((l) => l.startsWith('warning core scheduling:'))).toHaveLength(1);
  });

  test('the config endpoint lists every relay with its CPUs, in relay order', async () => {
    expect(await setUp().cs.relayCpuMap()).toEqual({ status: ConfigStatus.OK, relay_cpu_map: [entry(0, 1, 2), entry(3, 2, 2)] });
  });
});
