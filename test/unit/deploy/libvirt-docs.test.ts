// docs/libvirt.md shows the domain XML that test/system/libvirt.sh runs:
// each file of test/system/libvirt/ that it names, byte for byte, and every
// one of them. (The page cannot drift from what CI starts.)
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from '@jest/globals';
import { ROOT } from '../../lib/forwarder.js';

const DIR = 'test/system/libvirt';
const page = fs.readFileSync(path.join(ROOT, 'docs/libvirt.md'), 'utf8');
/** Each "<!-- test/system/libvirt/NAME -->" followed by a fenced block: [name, the block's text]. */
const shown = [...page.matchAll(/^<!-- (test\/system\/libvirt\/[^ ]+) -->\n```[a-z]*\n([\s\S]*?)^```$/gm)]
  .map((m) => [m[1] ?? '', m[2] ?? ''] as const);

describe('docs/libvirt.md', () => {
  test('shows every XML file the libvirt system test uses', () => {
    const files = fs.readdirSync(path.join(ROOT, DIR)).filter((f) => f.endsWith('.xml')).map((f) => `${DIR}/${f}`).sort();
    expect(files.length).toBeGreaterThanOrEqual(4);
    expect(shown.map(([name]) => name).sort()).toEqual(files);
  });

  test.each(shown)('%s: shown as it is', (name, text) => {
    expect(text).toBe(fs.readFileSync(path.join(ROOT, name), 'utf8'));
  });

  test('the test runs each file it shows', () => {
    const script = fs.readFileSync(path.join(ROOT, 'test/system/libvirt.sh'), 'utf8');
    for (const [name] of shown) expect(script).toContain(path.basename(name));
  });
});
