// The supervisor keeps off the worker CPUs: its work (a metrics scrape,
// port control, stats) would otherwise steal time from a busy-polling
// worker in bursts, and a worker that stops for milliseconds drops. The
// dataplane it starts inherits the set; DPDK then places its lcores itself.
import fs from 'node:fs';
import { execa } from 'execa';
import { parseCpuList, type Config, type Logger } from '@vio4wd/common';

/** The CPUs this process may run on (/proc/self/status: Cpus_allowed_list). */
export function allowedCpus(status = fs.readFileSync('/proc/self/status', 'utf8')): number[] {
  const m = /^Cpus_allowed_list:\s*(\S+)$/m.exec(status);
  return m?.[1] ? parseCpuList(m[1], 4095) : [];
}

/** The CPUs the supervisor should keep to: those it may use but the workers', if any are left (else undefined: no change). */
export function supervisorCpus(config: Pick<Config, 'cpuMask' | 'workerCpus'>, allowed: readonly number[]): number[] | undefined {
  const workers = new Set(config.workerCpus.length ? config.workerCpus : config.cpuMask);
  const rest = allowed.filter((c) => !workers.has(c));
  return rest.length > 0 && rest.length < allowed.length ? rest : undefined;
}

/** Moves every thread of this process off the worker CPUs (taskset), saying where. */
export async function keepOffWorkers(config: Pick<Config, 'cpuMask' | 'workerCpus'>, log: Logger): Promise<void> {
  const cpus = supervisorCpus(config, allowedCpus());
  if (!cpus) return;
  const r = await execa('taskset', ['-a', '-p', '-c', cpus.join(','), String(process.pid)], { reject: false });
  if (r.exitCode === 0) log.info(`supervisor on CPU(s) ${cpus.join(',')}, off the worker CPUs`);
  else log.warning(`cannot keep the supervisor off the worker CPUs (taskset: ${String(r.stderr || r.message || r.exitCode).trim()}); its work may delay the workers`);
}
