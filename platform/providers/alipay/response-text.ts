/**
 * The gateway answers `{"<method>_response":{...},"sign":"..."}` and signs
 * the `<method>_response` value exactly as its characters appear in the body
 * (opendocs.alipay.com/common/02mse3, 同步验签: "截取 xxx_response 对应的
 * JSON 字符串"). So the value is located by scanning the raw text, without
 * parsing or re-serializing it: a re-serialization (other whitespace, `\/`
 * unescaped) would not verify.
 */
export interface ResponseSpans {
  /** Top-level member name -> the exact text of its value. */
  members: Map<string, string>;
}

export type ScanResult = { ok: true; spans: ResponseSpans } | { ok: false; reason: string };

const WS = new Set([' ', '\t', '\n', '\r']);

class Scanner {
  i = 0;
  constructor(readonly s: string) {}
  ws(): void {
    while (this.i < this.s.length && WS.has(this.s[this.i]!)) this.i++;
  }
  fail(what: string): never {
    throw new ScanError(`${what} at offset ${this.i}`);
  }
  /** Skips one JSON string starting at the current '"'; returns its raw text. */
  string(): string {
    const start = this.i;
    if (this.s[this.i] !== '"') this.fail('expected a string');
    this.i++;
    while (this.i < this.s.length) {
      const c = this.s[this.i]!;
      if (c === '\\') {
        this.i += 2;
        continue;
      }
      if (c === '"') {
        this.i++;
        return this.s.slice(start, this.i);
      }
      if (c < ' ') this.fail('control character in a string');
      this.i++;
    }
    this.fail('unterminated string');
  }
  /** Skips one JSON value (structure only; JSON.parse checks the rest after verification). */
  value(depth: number): void {
    if (depth > 64) this.fail('nesting deeper than 64');
    const c = this.s[this.i];
    if (c === '"') {
      this.string();
      return;
    }
    if (c === '{' || c === '[') {
      const close = c === '{' ? '}' : ']';
      this.i++;
      this.ws();
      if (this.s[this.i] === close) {
        this.i++;
        return;
      }
      for (;;) {
        if (c === '{') {
          this.string();
          this.ws();
          if (this.s[this.i] !== ':') this.fail("expected ':'");
          this.i++;
          this.ws();
        }
        this.value(depth + 1);
        this.ws();
        const n = this.s[this.i];
        if (n === ',') {
          this.i++;
          this.ws();
          continue;
        }
        if (n === close) {
          this.i++;
          return;
        }
        this.fail(`expected ',' or '${close}'`);
      }
    }
    const m = /^(?:-?[0-9][0-9.eE+-]*|true|false|null)/.exec(this.s.slice(this.i, this.i + 64));
    if (!m) this.fail('expected a value');
    this.i += m[0].length;
  }
}

class ScanError extends Error {}

/** The top-level members of a JSON object body, each as its exact value text. */
export function scanTopLevel(body: string): ScanResult {
  const sc = new Scanner(body);
  const members = new Map<string, string>();
  try {
    sc.ws();
    if (body[sc.i] !== '{') sc.fail("expected '{'");
    sc.i++;
    sc.ws();
    if (body[sc.i] !== '}') {
      for (;;) {
        const rawName = sc.string();
        const name = JSON.parse(rawName) as string;
        sc.ws();
        if (body[sc.i] !== ':') sc.fail("expected ':'");
        sc.i++;
        sc.ws();
        const start = sc.i;
        sc.value(0);
        if (members.has(name)) sc.fail(`member "${name.slice(0, 40)}" appears twice`);
        members.set(name, body.slice(start, sc.i));
        sc.ws();
        if (body[sc.i] === ',') {
          sc.i++;
          sc.ws();
          continue;
        }
        if (body[sc.i] === '}') break;
        sc.fail("expected ',' or '}'");
      }
    }
    sc.i++;
    sc.ws();
    if (sc.i !== body.length) sc.fail('text after the object');
  } catch (err) {
    if (err instanceof ScanError || err instanceof SyntaxError) return { ok: false, reason: err.message };
    throw err;
  }
  return { ok: true, spans: { members } };
}
