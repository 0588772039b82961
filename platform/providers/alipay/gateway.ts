/**
 * The open platform gateway (OpenAPI 2.0): one form POST per call carrying
 * the public parameters (app_id, method, format, charset, sign_type,
 * timestamp, version, notify_url) and biz_content, signed RSA2 with the app
 * key; the answer's `<method>_response` is verified with Alipay's public key
 * over its exact text before it is parsed (opendocs.alipay.com/common/02kf5q,
 * 公共请求参数 / 自行实现签名; opendocs.alipay.com/common/02mse3, 同步验签).
 */
import type { KeyObject } from 'node:crypto';
import { ErrorCode, VendgateError } from '../../../core/errors.ts';
import type { Log } from '../../../core/log.ts';
import { encodeForm } from './form.ts';
import { boundedFetch, type FetchLike } from './http.ts';
import { scanTopLevel } from './response-text.ts';
import { contentToSign, rsa2Sign, rsa2Verify } from './sign.ts';
import { formatBeijing } from './time.ts';

/** A verified `<method>_response` object: `code` "10000" is success, anything else a business answer. */
export interface GatewayAnswer {
  code: string;
  msg: string;
  subCode?: string;
  subMsg?: string;
  fields: Record<string, unknown>;
}

export interface GatewayOptions {
  gatewayUrl: string;
  appId: string;
  appPrivateKey: KeyObject;
  alipayPublicKey: KeyObject;
  timeoutMs: number;
  maxResponseBytes: number;
  log: Log;
  fetch?: FetchLike;
  now?: () => number;
}

/**
 * Alipay's answer codes (opendocs.alipay.com/common/02km9f, 公共错误码):
 * 10000 success, 20000 service unavailable (retry), 20001 no permission,
 * 40001 missing parameter, 40002 invalid parameter, 40004 business failure,
 * 40006 insufficient rights. ACQ.SYSTEM_ERROR asks the caller to retry with
 * the same request.
 */
function isRetryable(code: string, subCode: string | undefined): boolean {
  return code === '20000' || subCode === 'ACQ.SYSTEM_ERROR' || subCode === 'aop.ACQ.SYSTEM_ERROR';
}

export class AlipayGateway {
  constructor(private readonly opts: GatewayOptions) {}

  /** The public + business parameters of one call, signed (exported for tests and the SDK cross-check). */
  signedParams(
    method: string,
    bizContent: Record<string, unknown>,
    notifyUrl?: string,
  ): Record<string, string> {
    const params: Record<string, string> = {
      app_id: this.opts.appId,
      method,
      format: 'JSON',
      charset: 'utf-8',
      sign_type: 'RSA2',
      timestamp: formatBeijing((this.opts.now ?? Date.now)()),
      version: '1.0',
      biz_content: JSON.stringify(bizContent),
    };
    if (notifyUrl) params.notify_url = notifyUrl;
    params.sign = rsa2Sign(contentToSign(params), this.opts.appPrivateKey);
    return params;
  }

  async call(
    method: string,
    bizContent: Record<string, unknown>,
    notifyUrl?: string,
  ): Promise<GatewayAnswer> {
    const params = this.signedParams(method, bizContent, notifyUrl);
    const res = await boundedFetch(
      {
        url: this.opts.gatewayUrl,
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded;charset=utf-8',
          accept: 'application/json',
        },
        body: encodeForm(params),
        timeoutMs: this.opts.timeoutMs,
        maxBytes: this.opts.maxResponseBytes,
        what: method,
      },
      this.opts.fetch,
    );
    const answer = this.verifyAnswer(method, res.body);
    this.opts.log.debug({ method, code: answer.code, subCode: answer.subCode }, 'alipay gateway answered');
    if (isRetryable(answer.code, answer.subCode)) {
      throw new VendgateError(
        ErrorCode.AlipayUnavailable,
        `${method}: Alipay asks to retry (${answer.code} ${answer.subCode ?? answer.msg})`,
        { method, code: answer.code, subCode: answer.subCode, retryable: true },
      );
    }
    return answer;
  }

  /** Verifies the raw body's `<method>_response` text, then parses it. */
  verifyAnswer(method: string, raw: Buffer): GatewayAnswer {
    const invalid = (why: string) =>
      new VendgateError(ErrorCode.AlipayResponseInvalid, `${method}: ${why}`, { method, retryable: false });
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(raw);
    } catch {
      throw invalid('the answer is not UTF-8');
    }
    const scan = scanTopLevel(text);
    if (!scan.ok) throw invalid(`the answer is not a JSON object (${scan.reason})`);
    const key = `${method.replaceAll('.', '_')}_response`;
    const span = scan.spans.members.get(key) ?? scan.spans.members.get('error_response');
    if (span === undefined) throw invalid(`the answer has no ${key}`);
    const signSpan = scan.spans.members.get('sign');
    const sign = signSpan === undefined ? undefined : (JSON.parse(signSpan) as unknown);
    if (typeof sign !== 'string' || !rsa2Verify(span, sign, this.opts.alipayPublicKey)) {
      throw new VendgateError(
        ErrorCode.AlipayResponseSignatureInvalid,
        `${method}: the answer's signature is ${typeof sign === 'string' ? 'not Alipay' : 'missing'}`,
        { method, retryable: false },
      );
    }
    const obj = JSON.parse(span) as unknown;
    if (typeof obj !== 'object' || obj === null || Array.isArray(obj))
      throw invalid(`${key} is not an object`);
    const fields = obj as Record<string, unknown>;
    const str = (k: string) => (typeof fields[k] === 'string' ? (fields[k] as string) : undefined);
    const code = str('code');
    if (code === undefined) throw invalid(`${key} has no code`);
    return { code, msg: str('msg') ?? '', subCode: str('sub_code'), subMsg: str('sub_msg'), fields };
  }
}

/** A final business failure as a typed error (the code and sub_code in context, for the operator). */
export function businessError(method: string, a: GatewayAnswer): VendgateError {
  return new VendgateError(
    ErrorCode.AlipayBusinessError,
    `${method}: Alipay answered ${a.code} ${a.subCode ?? ''} ${a.subMsg ?? a.msg}`.trim(),
    { method, code: a.code, subCode: a.subCode, retryable: false },
  );
}
