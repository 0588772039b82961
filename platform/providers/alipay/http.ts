/**
 * One bounded HTTP exchange: a timeout over the whole request (headers and
 * body), a size limit on what is read, and the failures mapped to the
 * catalogue: no answer in time -> AlipayTimeout, connection failures and
 * 5xx -> AlipayUnavailable (both retryable), other non-2xx ->
 * AlipayHttpRejected (final).
 */
import { ErrorCode, VendgateError } from '../../../core/errors.ts';

export interface BoundedRequest {
  url: string;
  method: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  timeoutMs: number;
  maxBytes: number;
  /** Names the exchange in errors, e.g. "alipay.trade.query". */
  what: string;
}

export interface BoundedResponse {
  status: number;
  headers: Headers;
  body: Buffer;
}

export type FetchLike = typeof fetch;

function isTimeout(err: unknown): boolean {
  return err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
}

export async function boundedFetch(
  req: BoundedRequest,
  fetchImpl: FetchLike = fetch,
): Promise<BoundedResponse> {
  const signal = AbortSignal.timeout(req.timeoutMs);
  const where = { what: req.what, timeoutMs: req.timeoutMs };
  let res: Response;
  try {
    res = await fetchImpl(req.url, {
      method: req.method,
      headers: req.headers,
      body: req.body,
      signal,
      redirect: 'error',
    });
  } catch (err) {
    if (isTimeout(err) || signal.aborted) {
      throw new VendgateError(ErrorCode.AlipayTimeout, `${req.what}: no answer within ${req.timeoutMs} ms`, {
        ...where,
        retryable: true,
      });
    }
    throw new VendgateError(
      ErrorCode.AlipayUnavailable,
      `${req.what}: request failed (${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message})`,
      { ...where, retryable: true },
    );
  }
  const declared = Number(res.headers.get('content-length') ?? '0');
  if (declared > req.maxBytes) {
    await res.body?.cancel().catch(() => {});
    throw tooLarge(req, declared);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    if (res.body) {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        size += chunk.byteLength;
        if (size > req.maxBytes) {
          await res.body.cancel().catch(() => {});
          throw tooLarge(req, size);
        }
        chunks.push(Buffer.from(chunk));
      }
    }
  } catch (err) {
    if (err instanceof VendgateError) throw err;
    if (isTimeout(err) || signal.aborted) {
      throw new VendgateError(
        ErrorCode.AlipayTimeout,
        `${req.what}: the body did not arrive within ${req.timeoutMs} ms`,
        { ...where, retryable: true },
      );
    }
    throw new VendgateError(
      ErrorCode.AlipayUnavailable,
      `${req.what}: the connection broke during the body`,
      {
        ...where,
        retryable: true,
      },
    );
  }
  const body = Buffer.concat(chunks);
  if (res.status >= 500) {
    throw new VendgateError(ErrorCode.AlipayUnavailable, `${req.what}: HTTP ${res.status}`, {
      ...where,
      status: res.status,
      retryable: true,
    });
  }
  if (res.status < 200 || res.status >= 300) {
    throw new VendgateError(ErrorCode.AlipayHttpRejected, `${req.what}: HTTP ${res.status}`, {
      ...where,
      status: res.status,
      retryable: false,
    });
  }
  return { status: res.status, headers: res.headers, body };
}

function tooLarge(req: BoundedRequest, size: number): VendgateError {
  return new VendgateError(
    ErrorCode.AlipayResponseTooLarge,
    `${req.what}: the answer exceeds ${req.maxBytes} bytes (${size} so far)`,
    { what: req.what, maxBytes: req.maxBytes, retryable: false },
  );
}
