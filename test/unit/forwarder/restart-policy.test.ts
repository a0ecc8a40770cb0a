// The dataplane restart policy: backoff, reset after a stable run, giving up.
import { describe, expect, test } from '@jest/globals';
import { RESTART_LIMITS, RestartPolicy } from '@vio4wd/forwarder';

const quick = RESTART_LIMITS.stableMs - 1;
const stable = RESTART_LIMITS.stableMs;

describe('RestartPolicy', () => {
  test('a death after a stable run restarts at once, every time', () => {
    const p = new RestartPolicy();
    for (let i = 0; i < 20; i++) expect(p.exited(stable + i)).toEqual({ giveUp: false, delayMs: 0 });
  });

  test('consecutive quick deaths wait 250 ms doubling, then give up at the sixth', () => {
    const p = new RestartPolicy();
    const delays = [1, 2, 3, 4, 5].map(() => p.exited(quick));
    expect(delays).toEqual([250, 500, 1000, 2000, 4000].map((delayMs) => ({ giveUp: false, delayMs })));
    expect(p.exited(0)).toEqual({ giveUp: true, count: 6 });
  });

  test('a stable run in between starts the count again', () => {
    const p = new RestartPolicy();
    for (let i = 0; i < 5; i++) p.exited(quick);
    expect(p.exited(stable)).toEqual({ giveUp: false, delayMs: 0 });
    expect(p.exited(quick)).toEqual({ giveUp: false, delayMs: 250 });
  });

  test('the delay is capped', () => {
    const p = new RestartPolicy({ stableMs: 1000, firstDelayMs: 250, maxDelayMs: 8000, giveUpAfter: 100 });
    let last = 0;
    for (let i = 0; i < 50; i++) {
      const d = p.exited(quick);
      if (d.giveUp) throw new Error('gave up too soon');
      last = d.delayMs;
    }
    expect(last).toBe(8000);
    expect([0, 1, 2, 5, 6, 7, 60].map((n) => p.delay(n))).toEqual([0, 250, 500, 4000, 8000, 8000, 8000]);
  });

  test('failed starts back off with the same formula and give up at the limit', () => {
    const p = new RestartPolicy();
    expect([1, 2, 3, 4, 5].map((n) => p.startFailed(n))).toEqual(
      [250, 500, 1000, 2000, 4000].map((delayMs) => ({ giveUp: false, delayMs })),
    );
    expect(p.startFailed(6)).toEqual({ giveUp: true, count: 6 });
  });
});
