import type { z } from 'zod';
import { ErrorCode, VendgateError } from '../core/errors.ts';

/** The first schema issue as `path: message`, for an error that names where a payload was wrong. */
export function firstIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  return `${issue?.path.join('.') || '(root)'}: ${issue?.message}`;
}

/**
 * JSON.parse of a gateway's payload text; a PayloadNotJson error that says
 * what it was and its length, never its content (it may hold anything).
 */
export function parsePayloadJson(text: string, what: string, gatewayId: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new VendgateError(ErrorCode.PayloadNotJson, `the ${what} is not JSON (${text.length} characters)`, {
      gatewayId,
    });
  }
}
