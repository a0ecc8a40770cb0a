// docs/operations.md cannot drift from the code: its variable table is the
// one the parser's list makes, and every metric family and alert the
// services and the package have is in it.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from '@jest/globals';
import { configVariables, renderVariableTable, VARIABLE_DOCS } from '@vio4wd/common';
import { SchedulerMetrics } from '@vio4wd/core-scheduler';
import { ForwarderMetrics } from '@vio4wd/forwarder';
import { ROOT } from '../../lib/forwarder.js';

const doc = fs.readFileSync(path.join(ROOT, 'docs/operations.md'), 'utf8');

describe('docs/operations.md', () => {
  test('the variable table is the generated one (npm run docs:variables), every variable the parser reads documented', () => {
    const names = configVariables().map((v) => v.name);
    expect(names.length).toBeGreaterThan(40);
    expect(Object.keys(VARIABLE_DOCS).sort()).toEqual([...names].sort());
    const m = /<!-- variables:begin -->\n([\s\S]*?)\n<!-- variables:end -->/.exec(doc);
    expect(m?.[1]).toBe(renderVariableTable());
    for (const n of names) expect(m?.[1]).toContain(`| \`${n}\` |`);
  });

  test('every metric family of both services is in the metrics reference', () => {
    const fwd = new ForwarderMetrics({ desired: () => [], unplugged: () => undefined, sample: async () => undefined, generation: () => 0, plugs: () => 0, dpdkRelease: () => '' });
    const families = [...fwd.registry.getMetricsAsArray(), ...new SchedulerMetrics().registry.getMetricsAsArray()]
      .map((m) => m.name).filter((n) => n.startsWith('vio4wd_'));
    expect(families.length).toBeGreaterThan(25);
    const missing = families.filter((n) => !doc.includes(`\`${n}`));
    expect(missing).toEqual([]);
  });

  test('every shipped alert is in the alerts table', () => {
    const rules = fs.readFileSync(path.join(ROOT, 'deploy/prometheus/vio4wd.rules.yml'), 'utf8');
    const alerts = [...rules.matchAll(/- alert: (\w+)/g)].map((m) => m[1] ?? '');
    expect(alerts).toHaveLength(7);
    expect(alerts.filter((a) => !doc.includes(`| \`${a}\` |`))).toEqual([]);
  });
});
