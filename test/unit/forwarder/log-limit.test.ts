// The limiter on warnings that clients can trigger at will.
import { describe, expect, test } from '@jest/globals';
import { LogLimiter } from '@vio4wd/forwarder';
import { captureLog as capture } from '../../lib/log-capture.js';

describe('LogLimiter', () => {
  test('a burst: the first few lines, one line saying the rest are counted, then their count at the end of the window', async () => {
    const { log, lines } = capture();
    const limiter = new LogLimiter(log, 'stats: bad requests', 5, 200);
    for (let i = 0; i < 100; i++) limiter.warning(`bad request ${i}`);
    expect(lines).toEqual([
      ...[0, 1, 2, 3, 4].map((i) => `warning bad request ${i}`),
      'warning stats: bad requests: more than 5 in 0.2 s; the rest are counted, not logged',
    ]);
    await new Promise((r) => setTimeout(r, 300));
    expect(lines.slice(6)).toEqual(['warning stats: bad requests: 95 more in the last 0.2 s, not logged one by one']);
    // A new window logs again.
    limiter.warning('bad request 100');
    expect(lines.slice(7)).toEqual(['warning bad request 100']);
  });

  test('below the limit every line is logged and nothing is summed up', async () => {
    const { log, lines } = capture();
    const limiter = new LogLimiter(log, 'x', 5, 100);
    for (let i = 0; i < 5; i++) limiter.warning(`w${i}`);
    await new Promise((r) => setTimeout(r, 150));
    limiter.warning('w5');
    expect(lines).toEqual(['w0', 'w1', 'w2', 'w3', 'w4', 'w5'].map((w) => `warning ${w}`));
  });
});
