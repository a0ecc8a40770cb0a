// Relays waiting to be plugged: the reasons kept, the timer that retries them.
import { describe, expect, test } from '@jest/globals';
import { UnpluggedRelays } from '@vio4wd/forwarder';

const until = async (cond: () => boolean, ms = 5000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
};

describe('UnpluggedRelays', () => {
  test('mark says whether the reason is new; clear whether the relay was waiting', () => {
    const u = new UnpluggedRelays(async () => undefined, 60000);
    try {
      expect(u.mark(3, 'no driver')).toBe(true);
      expect(u.mark(3, 'no driver')).toBe(false);
      expect(u.mark(3, 'busy')).toBe(true);
      expect(u.has(3)).toBe(true);
      expect([...u.reasons]).toEqual([[3, 'busy']]);
      expect(u.clear(3)).toBe(true);
      expect(u.clear(3)).toBe(false);
      expect(u.has(3)).toBe(false);
    } finally {
      u.stop();
    }
  });

  test('the timer retries every waiting relay until each is cleared, then stops', async () => {
    const tries: number[] = [];
    let failuresLeft = 3;
    const u: UnpluggedRelays = new UnpluggedRelays(async (id) => {
      tries.push(id);
      if (id === 1 || --failuresLeft < 0) u.clear(id);
      else u.mark(id, 'still not');
    }, 10);
    try {
      u.mark(1, 'a');
      u.mark(2, 'b');
      await until(() => u.reasons.size === 0);
      expect(tries.filter((i) => i === 1)).toHaveLength(1);
      expect(tries.filter((i) => i === 2).length).toBeGreaterThanOrEqual(3);
      const n = tries.length;
      await new Promise((r) => setTimeout(r, 60));
      expect(tries).toHaveLength(n);
    } finally {
      u.stop();
    }
  });

  test('rounds never overlap, however slow a retry is', async () => {
    let inside = 0;
    let most = 0;
    let rounds = 0;
    const u: UnpluggedRelays = new UnpluggedRelays(async () => {
      inside++;
      most = Math.max(most, inside);
      await new Promise((r) => setTimeout(r, 50));
      inside--;
      rounds++;
    }, 5);
    try {
      u.mark(7, 'slow');
      await until(() => rounds >= 3);
      expect(most).toBe(1);
    } finally {
      u.stop();
    }
  });

  test('after stop nothing is retried', async () => {
    let tries = 0;
    const u = new UnpluggedRelays(async () => {
      tries++;
    }, 5);
    u.stop();
    u.mark(1, 'x');
    await new Promise((r) => setTimeout(r, 40));
    await u.tick();
    expect(tries).toBe(0);
  });
});
