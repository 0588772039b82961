import { describe, expect, it } from 'vitest';
import { COMMAND_MAX_PAYLOAD_BYTES, type SignedCommand } from '../contract/commands.ts';
import { privateKeyFromBase64, signBody } from '../contract/signing.ts';
import { ErrorCode } from '../core/errors.ts';
import { waitUntil } from '../testing/wait.ts';
import { useRig } from './support/rig.ts';

/** The guard's type table and size bound, on the whole gateway with its embedded aedes broker and store on disk. */
describe('the bounds of a platform command', () => {
  const h = useRig({ slotBoards: 1 });
  const rejected = () =>
    h.platform.eventsOfType('command.rejected').map((e) => e.data as Record<string, unknown>);

  it('a signed command of type constructor or toString gets a refusal as an unknown type, and orders keep flowing', async () => {
    const before = rejected().length;
    const types = ['constructor', 'toString', '__proto__', 'hasOwnProperty', 'valueOf'];
    for (const type of types) await h.platform.sendCommand(type, {});
    await waitUntil(() => rejected().length === before + types.length, {
      timeoutMs: 10_000,
      what: 'a refusal for each',
    });
    expect(rejected().slice(before)).toEqual(
      types.map((type) =>
        expect.objectContaining({
          code: ErrorCode.CommandUnknownType,
          commandType: type,
          reason: expect.any(String),
        }),
      ),
    );
    const o = h.order('m1', 1);
    await h.platform.placeOrder(o);
    await h.settled([o.orderId]);
    expect(h.gw.ledger.get(o.orderId)?.state).toBe('dispensed');
  });

  it('takes a signed command of exactly the size the schema states and refuses one byte more, unread', async () => {
    const before = rejected().length;
    // A paid order whose signed body is padded with JSON whitespace to a given payload size.
    const sized = (bytes: number) => {
      const o = h.order('m1', 2);
      const body = h.platform.buildCommand('order.paid', o).body;
      const key = privateKeyFromBase64(h.keys.privateKey);
      const sign = (text: string): SignedCommand => ({ body: text, sig: signBody(text, key) });
      const bare = JSON.stringify(sign(JSON.stringify(body))).length;
      const text = `${JSON.stringify(body)}${' '.repeat(bytes - bare)}`;
      const payload = JSON.stringify(sign(text));
      expect(Buffer.byteLength(payload)).toBe(bytes);
      return { o, payload };
    };
    const fits = sized(COMMAND_MAX_PAYLOAD_BYTES);
    const over = sized(COMMAND_MAX_PAYLOAD_BYTES + 1);
    await h.platform.publishRaw('order.paid', fits.payload);
    await h.platform.publishRaw('order.paid', over.payload);
    await h.settled([fits.o.orderId]);
    await waitUntil(() => rejected().length === before + 1, { timeoutMs: 10_000, what: 'the refusal' });
    expect(h.gw.ledger.get(fits.o.orderId)?.state).toBe('dispensed');
    expect(rejected()[before]).toMatchObject({ code: ErrorCode.PayloadTooLarge });
    expect(rejected()[before]!.reason).toContain(String(COMMAND_MAX_PAYLOAD_BYTES));
    expect(h.gw.ledger.get(over.o.orderId)).toBeUndefined();
  });
});
