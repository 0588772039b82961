import { describe, expect, it } from 'vitest';
import { silentLogger } from '../core/log.ts';
import { Lifecycle, type Part, PartGroup } from './lifecycle.ts';

function recorder() {
  const calls: string[] = [];
  const part = (name: string, opts: { failStart?: boolean; failStop?: boolean } = {}): Part => ({
    async start() {
      calls.push(`start ${name}`);
      if (opts.failStart) throw new Error(`${name} cannot start`);
    },
    async stop() {
      calls.push(`stop ${name}`);
      if (opts.failStop) throw new Error(`${name} cannot stop`);
    },
  });
  return { calls, part };
}

describe('the lifecycle of the composition root', () => {
  it('starts parts in order and stops them in reverse order', async () => {
    const { calls, part } = recorder();
    const life = new Lifecycle(silentLogger());
    await life.start('store', part('store'));
    await life.start('broker', part('broker'));
    await life.start('link', part('link'));
    expect(life.running).toEqual(['store', 'broker', 'link']);
    await life.stop();
    expect(calls).toEqual([
      'start store',
      'start broker',
      'start link',
      'stop link',
      'stop broker',
      'stop store',
    ]);
    expect(life.running).toEqual([]);
  });

  it('stops what already started, newest first, when a later part fails to start, then rethrows', async () => {
    const { calls, part } = recorder();
    const life = new Lifecycle(silentLogger());
    await life.start('store', part('store'));
    await life.start('broker', part('broker'));
    await expect(life.start('http', part('http', { failStart: true }))).rejects.toThrow('http cannot start');
    expect(calls).toEqual(['start store', 'start broker', 'start http', 'stop broker', 'stop store']);
  });

  it('keeps the start failure as the error when a part also fails to stop while unwinding', async () => {
    const { calls, part } = recorder();
    const life = new Lifecycle(silentLogger());
    await life.start('store', part('store'));
    await life.start('broker', part('broker', { failStop: true }));
    await expect(life.start('http', part('http', { failStart: true }))).rejects.toThrow('http cannot start');
    expect(calls).toContain('stop store');
  });

  it('stops every part even when one fails to stop, and reports that failure at the end', async () => {
    const { calls, part } = recorder();
    const life = new Lifecycle(silentLogger());
    await life.start('store', part('store'));
    await life.start('broker', part('broker', { failStop: true }));
    await life.start('link', part('link'));
    await expect(life.stop()).rejects.toThrow('broker cannot stop');
    expect(calls.slice(3)).toEqual(['stop link', 'stop broker', 'stop store']);
  });

  it('stops each part once when stop is called twice', async () => {
    const { calls, part } = recorder();
    const life = new Lifecycle(silentLogger());
    await life.start('store', part('store'));
    await Promise.all([life.stop(), life.stop()]);
    expect(calls.filter((c) => c === 'stop store')).toHaveLength(1);
  });

  it('hands a step the value its start produced when it stops it', async () => {
    const life = new Lifecycle(silentLogger());
    const closed: string[] = [];
    const db = await life.step(
      'store',
      () => ({ path: '/tmp/x.db' }),
      (d) => {
        closed.push(d.path);
      },
    );
    expect(db.path).toBe('/tmp/x.db');
    await life.stop();
    expect(closed).toEqual(['/tmp/x.db']);
  });

  it('refuses to start a part once it is stopping', async () => {
    const { part } = recorder();
    const life = new Lifecycle(silentLogger());
    await life.stop();
    await expect(life.start('late', part('late'))).rejects.toThrow(
      /cannot start late: the gateway is stopping/,
    );
  });
});

describe('a group of parts started together', () => {
  it('stops the members that started when another fails, and rethrows', async () => {
    const { calls, part } = recorder();
    const group = new PartGroup([part('m1'), part('m2', { failStart: true }), part('m3')]);
    await expect(group.start()).rejects.toThrow('m2 cannot start');
    expect(calls.filter((c) => c.startsWith('stop')).sort()).toEqual(['stop m1', 'stop m3']);
  });

  it('stops every member it started', async () => {
    const { calls, part } = recorder();
    const group = new PartGroup([part('m1'), part('m2')]);
    await group.start();
    await group.stop();
    expect(calls.filter((c) => c.startsWith('stop')).sort()).toEqual(['stop m1', 'stop m2']);
    await group.stop();
    expect(calls.filter((c) => c.startsWith('stop'))).toHaveLength(2);
  });
});
