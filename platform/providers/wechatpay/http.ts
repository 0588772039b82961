/**
 * The signed HTTP exchange with WeChat Pay: every request carries the
 * merchant's Authorization signature; every answer but a 5xx and a bill
 * file is verified (platform key by serial, fresh timestamp, signature over
 * the raw bytes) before its body is parsed. Timeouts and response sizes are
 * bounded; a timeout, a network failure, a 5xx or a 429 is a retryable
 * error, everything else final.
 */
import { ErrorCode, VendgateError } from '../../../core/errors.ts';
import type { WechatPayConfig } from './config.ts';
import { authorize } from './signing.ts';
import { checkSignature, signatureHeaders } from './verify.ts';

export type FetchLike = (url: string, init: RequestInit) => Promise<Response>;

export interface WechatResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

export interface RequestOptions {
  /** A JSON body (POST). */
  json?: unknown;
  /** Skip response verification: only the bill download, whose answer WeChat does not sign ("跳过验签"). */
  unsigned?: boolean;
  maxBytes?: number;
  /** What the signature covers after timestamp and nonce, when not the body (Global statements: the SHA1). */
  signedPart?: (r: WechatResponse) => string | Buffer;
}

/** The `{code, message}` error body of API v3 ("错误信息"), when there is one. */
export function errorBody(r: WechatResponse): { code: string; message: string } | undefined {
  try {
    const j = JSON.parse(r.body.toString('utf8')) as { code?: unknown; message?: unknown };
    if (typeof j.code === 'string') {
      return { code: j.code, message: typeof j.message === 'string' ? j.message.slice(0, 200) : '' };
    }
  } catch {}
  return undefined;
}

/** A final error for a 4xx business answer, naming WeChat's code. */
export function refusedError(what: string, r: WechatResponse): VendgateError {
  const e = errorBody(r);
  return new VendgateError(
    ErrorCode.ProviderRefused,
    `${what}: WeChat Pay answered ${r.status}${e ? ` ${e.code}: ${e.message}` : ''}`,
    { status: r.status, providerCode: e?.code, retryable: false },
  );
}

async function readBounded(res: Response, maxBytes: number, what: string): Promise<Buffer> {
  const declared = Number(res.headers.get('content-length') ?? Number.NaN);
  if (Number.isFinite(declared) && declared > maxBytes) {
    await res.body?.cancel();
    throw new VendgateError(
      ErrorCode.ProviderResponseTooLarge,
      `${what}: answer of ${declared} bytes is too large`,
      {
        maxBytes,
        retryable: false,
      },
    );
  }
  if (!res.body) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength;
    if (size > maxBytes) {
      throw new VendgateError(
        ErrorCode.ProviderResponseTooLarge,
        `${what}: answer exceeds ${maxBytes} bytes`,
        {
          maxBytes,
          retryable: false,
        },
      );
    }
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks);
}

export class WechatPayHttp {
  constructor(
    private readonly cfg: WechatPayConfig,
    private readonly fetchImpl: FetchLike = fetch,
    private readonly now: () => number = Date.now,
  ) {}

  /** Sends one signed request to `pathAndQuery` (relative to the base URL) or to an absolute URL on the same origin. */
  async request(method: 'GET' | 'POST', target: string, opts: RequestOptions = {}): Promise<WechatResponse> {
    const base = new URL(this.cfg.baseUrl);
    const url = new URL(target.startsWith('/') ? `${this.cfg.baseUrl}${target}` : target);
    if (url.origin !== base.origin) {
      throw new VendgateError(
        ErrorCode.ProviderResponseInvalid,
        'a WeChat Pay URL points outside the API origin',
        {
          retryable: false,
        },
      );
    }
    const what = `${method} ${url.pathname}`;
    const body = opts.json === undefined ? '' : JSON.stringify(opts.json);
    const headers: Record<string, string> = {
      Accept: 'application/json',
      'User-Agent': 'vendgate-platform',
      Authorization: authorize({
        method,
        pathAndQuery: `${url.pathname}${url.search}`,
        body,
        mchid: this.cfg.mchid,
        serialNo: this.cfg.merchantSerialNo,
        privateKey: this.cfg.merchantPrivateKey,
        timestamp: this.now(),
      }),
    };
    if (body) headers['Content-Type'] = 'application/json';

    let res: Response;
    const signal = AbortSignal.timeout(this.cfg.timeoutMs);
    try {
      res = await this.fetchImpl(url.toString(), { method, headers, body: body || undefined, signal });
    } catch (err) {
      throw this.transportError(what, err, signal);
    }
    let raw: Buffer;
    try {
      raw = await readBounded(res, opts.maxBytes ?? this.cfg.maxResponseBytes, what);
    } catch (err) {
      if (err instanceof VendgateError) throw err;
      throw this.transportError(what, err, signal);
    }
    const out: WechatResponse = { status: res.status, headers: Object.fromEntries(res.headers), body: raw };
    if (res.status >= 500 || res.status === 429) {
      // Not acted upon, so not verified: WeChat asks for a retry ("请使用相同参数稍后重新调用").
      const e = errorBody(out);
      throw new VendgateError(
        ErrorCode.ProviderUnavailable,
        `${what}: WeChat Pay answered ${res.status}${e ? ` ${e.code}` : ''}; retry later`,
        { status: res.status, providerCode: e?.code, retryable: true },
      );
    }
    if (!opts.unsigned) this.verify(out, what, opts.signedPart ? opts.signedPart(out) : out.body);
    return out;
  }

  private verify(r: WechatResponse, what: string, signed: Buffer | string): void {
    const h = signatureHeaders(r.headers);
    if ('missing' in h) {
      throw new VendgateError(
        ErrorCode.WechatSignatureInvalid,
        `${what}: the answer has no ${h.missing} header`,
        {
          retryable: false,
        },
      );
    }
    const check = checkSignature({
      headers: h,
      signed,
      platformKeys: this.cfg.platformKeys,
      nowMs: this.now(),
      maxSkewSeconds: this.cfg.maxClockSkewSeconds,
    });
    if (!check.ok) throw new VendgateError(check.code, `${what}: ${check.reason}`, { retryable: false });
  }

  private transportError(what: string, err: unknown, signal: AbortSignal): VendgateError {
    if (signal.aborted) {
      return new VendgateError(
        ErrorCode.ProviderTimeout,
        `${what}: no answer from WeChat Pay within ${this.cfg.timeoutMs} ms`,
        { timeoutMs: this.cfg.timeoutMs, retryable: true },
      );
    }
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name;
    return new VendgateError(ErrorCode.ProviderUnavailable, `${what}: WeChat Pay unreachable (${cause})`, {
      retryable: true,
    });
  }
}

/** Parses a verified JSON answer; a body that is not JSON is a final error. */
export function jsonOf(r: WechatResponse, what: string): unknown {
  try {
    return JSON.parse(r.body.toString('utf8'));
  } catch {
    throw new VendgateError(ErrorCode.ProviderResponseInvalid, `${what}: the answer is not JSON`, {
      retryable: false,
    });
  }
}
