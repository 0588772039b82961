import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseDemoOptions } from './options.ts';

describe('the demo options', () => {
  it('gives the documented defaults, the rate of the demo that asks', () => {
    const o = parseDemoOptions([], { rate: 0.2 });
    expect(o).toMatchObject({
      machines: 2,
      cashless: 1,
      payFirst: 1,
      rate: 0.2,
      scenes: true,
      sceneEveryMs: 20_000,
      httpPort: 8080,
      platformPort: 8090,
      brokerPort: 1883,
    });
    expect(parseDemoOptions(['--no-scenes', '--scene-every', '5'], { rate: 0.5 })).toMatchObject({
      scenes: false,
      sceneEveryMs: 5000,
      rate: 0.5,
    });
  });

  it('refuses a value that is not a whole number in range as a wrong command line, naming the option', () => {
    for (const [args, name] of [
      [['--machines', 'abc'], '--machines'],
      [['--http-port', '70000'], '--http-port'],
      [['--scene-every', '0'], '--scene-every'],
      [['--rate', '-1'], '--rate'],
    ] as const) {
      let err: unknown;
      try {
        parseDemoOptions([...args], { rate: 0.2 });
      } catch (e) {
        err = e;
      }
      expect((err as { code?: string }).code).toBe('ERR_PARSE_ARGS_INVALID_OPTION_VALUE');
      expect((err as Error).message).toContain(name);
    }
  });

  it('never passes on anything but a number in range for any port text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 8 }), (raw) => {
        try {
          const { brokerPort } = parseDemoOptions(['--broker-port', raw], { rate: 0.2 });
          expect(Number.isInteger(brokerPort) && brokerPort >= 0 && brokerPort <= 65535).toBe(true);
        } catch (e) {
          expect((e as { code?: string }).code).toMatch(/^ERR_PARSE_ARGS_/);
        }
      }),
    );
  });
});
