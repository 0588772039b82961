import { generateKeyPairSync } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../core/errors.ts';
import { expectVendgateError } from '../../testing/errors.ts';
import { applyEnvOverrides, parseConfig, resolveUplinkTls } from './load.ts';

const configError = (f: () => unknown) => expectVendgateError(f, ErrorCode.ConfigInvalid);

const PEM_KEY = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  .privateKey.export({ type: 'pkcs8', format: 'pem' })
  .toString();

describe('the uplink section of the config', () => {
  it('is absent by default: the local broker serves the platform link too', () => {
    expect(parseConfig({}).uplink).toBeUndefined();
  });

  it('takes an mqtts URL with CA, client certificate and key files, SNI and ALPN', () => {
    const c = parseConfig({
      uplink: {
        url: 'mqtts://a1b2c3-ats.iot.eu-west-1.amazonaws.com:443',
        clientId: 'shop-17',
        tls: {
          ca: '/etc/vendgate/AmazonRootCA1.pem',
          cert: '/etc/vendgate/cert.pem',
          key: '/etc/vendgate/key.pem',
          alpn: ['x-amzn-mqtt-ca'],
        },
      },
    });
    expect(c.uplink).toMatchObject({ clientId: 'shop-17', tls: { alpn: ['x-amzn-mqtt-ca'] } });
  });

  it.each([
    [
      'TLS on a plain mqtt:// URL',
      { url: 'mqtt://broker:1883', tls: { ca: '/ca.pem' } },
      'uplink.url',
      'mqtts:// or wss://',
    ],
    [
      'a certificate without its key',
      { url: 'mqtts://broker', tls: { cert: '/c.pem' } },
      'uplink.tls.key',
      'needs its private key',
    ],
    [
      'a key without its certificate',
      { url: 'mqtts://broker', tls: { key: '/k.pem' } },
      'uplink.tls.cert',
      'needs its client certificate',
    ],
    [
      'a CA both as file and as text',
      { url: 'mqtts://broker', tls: { ca: '/ca.pem', caPem: PEM_KEY } },
      'uplink.tls.caPem',
      'not both',
    ],
    ['an https:// URL', { url: 'https://broker' }, 'uplink.url', 'an MQTT URL'],
    ['a URL with user:password@', { url: 'mqtts://u:p@broker' }, 'uplink.url', 'use uplink.username'],
    [
      'key text that is not PEM',
      { url: 'mqtts://broker', tls: { keyPem: 'not pem' } },
      'uplink.tls.keyPem',
      '-----BEGIN',
    ],
  ])('refuses %s, naming %s', (_, uplink, field, why) => {
    expect(() => parseConfig({ uplink })).toThrow(
      new RegExp(`${field.replace(/\./g, '\\.')}: [^\\n]*${why}`),
    );
  });

  it('never shows a password, a key or a passphrase in its errors', () => {
    fc.assert(
      // Letters and digits: a URL's user info cannot hold '/', '@' or spaces anyway.
      fc.property(fc.stringMatching(/^[A-Za-z0-9]{12,40}$/), (secret) => {
        try {
          parseConfig({
            uplink: {
              url: `mqtts://gw:${secret}@broker:8883`,
              password: 7,
              tls: { keyPem: `x${secret}`, keyPassphrase: 5 },
            },
            broker: { password: 42, embedded: { users: [{ username: 'u', password: secret.slice(0, 7) }] } },
          });
          return false;
        } catch (err) {
          const msg = (err as Error).message;
          return !msg.includes(secret) && !msg.includes(secret.slice(0, 7)) && msg.includes('[redacted]');
        }
      }),
    );
  });

  it('keeps PEM text from the environment byte for byte (YAML would fold its lines)', () => {
    fc.assert(
      fc.property(fc.base64String({ minLength: 4, maxLength: 200 }), (body) => {
        const pem = `-----BEGIN PRIVATE KEY-----\n${body}\n-----END PRIVATE KEY-----\n`;
        const out = applyEnvOverrides({}, { VENDGATE_UPLINK__TLS__KEY_PEM: pem }) as {
          uplink: { tls: { keyPem: string } };
        };
        return out.uplink.tls.keyPem === pem;
      }),
    );
  });

  it('still reads other environment values as YAML scalars, so ALPN lists are lists', () => {
    expect(
      applyEnvOverrides({}, { VENDGATE_UPLINK__TLS__ALPN: '[x-amzn-mqtt-ca]', VENDGATE_HTTP__PORT: '9090' }),
    ).toEqual({ uplink: { tls: { alpn: ['x-amzn-mqtt-ca'] } }, http: { port: 9090 } });
  });
});

describe('reading the uplink TLS material', () => {
  const uplink = (tls: object) => parseConfig({ uplink: { url: 'mqtts://broker:8883', tls } }).uplink!;
  const files = (contents: Record<string, string>) => (path: string) => {
    const text = contents[path];
    if (text === undefined) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
    return text;
  };

  it('names the field and the file when a file is missing', async () => {
    const err = await configError(() => resolveUplinkTls(uplink({ ca: '/etc/vendgate/ca.pem' }), files({})));
    expect(err.message).toContain('cannot read uplink.tls.ca (/etc/vendgate/ca.pem): no such file');
  });

  it('says a DER or other non-PEM file is not PEM and how to convert it', async () => {
    const err = await configError(() =>
      resolveUplinkTls(uplink({ ca: '/ca.der' }), files({ '/ca.der': '0\x82\x03\x1f0\x82' })),
    );
    expect(err.message).toContain('uplink.tls.ca (/ca.der) is not PEM');
    expect(err.message).toContain('openssl x509 -inform der');
  });

  it('says which kind of PEM it found when a key sits where a certificate belongs, without showing it', async () => {
    const err = await configError(() =>
      resolveUplinkTls(uplink({ cert: '/k.pem', key: '/k.pem' }), files({ '/k.pem': PEM_KEY })),
    );
    expect(err.message).toContain('uplink.tls.cert (/k.pem) holds a PRIVATE KEY, not a CERTIFICATE');
    expect(err.message).not.toContain(PEM_KEY.split('\n')[1]);
  });

  it('refuses PEM text pasted into a file field, pointing at the *Pem field, without echoing it', async () => {
    const err = await configError(() => resolveUplinkTls(uplink({ ca: PEM_KEY }), files({})));
    expect(err.message).toContain('put the text in uplink.tls.caPem');
    expect(err.message).not.toContain(PEM_KEY.split('\n')[1]);
  });
});
