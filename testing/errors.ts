import { expect } from 'vitest';
import { type ErrorCodeValue, isVendgateError, type VendgateError } from '../core/errors.ts';

/**
 * Asserts that `work` (a promise, or a function that throws or returns one)
 * fails with a VendgateError of `code`, and returns that error for further
 * checks.
 */
export async function expectVendgateError(
  work: Promise<unknown> | (() => unknown),
  code: ErrorCodeValue,
): Promise<VendgateError> {
  let caught: unknown;
  let failed = false;
  try {
    await (typeof work === 'function' ? work() : work);
  } catch (err) {
    caught = err;
    failed = true;
  }
  expect(failed, `expected a VendgateError ${code}, but nothing was thrown`).toBe(true);
  expect(isVendgateError(caught), `expected a VendgateError ${code}, got ${String(caught)}`).toBe(true);
  const err = caught as VendgateError;
  expect(err.code).toBe(code);
  return err;
}
