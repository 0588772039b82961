import { z } from 'zod';

export { CurrencyCode, MinorUnits, Money } from '../core/money.ts';

export const OrderId = z
  .string()
  .regex(/^[A-Za-z0-9_\-:.]{6,64}$/, '6-64 characters of letters, digits, _ - : .')
  .describe('The platform order id (the provider out_trade_no or the platform own id).');

export const MachineId = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,32}$/, '1-32 characters of letters, digits, _ -')
  .describe('A machine id as configured on the gateway.');

export const Slot = z
  .number()
  .int()
  .min(1)
  .max(255)
  .describe('The slot (selection) number on the machine, 1-255.');

export const Provider = z
  .string()
  .regex(/^[a-z0-9_-]{2,32}$/, 'a provider name such as "wechat" or "alipay"')
  .describe('The payment provider that took the money.');

export const EpochMs = z.number().int().nonnegative().describe('Milliseconds since the Unix epoch (UTC).');
