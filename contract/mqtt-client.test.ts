import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { explainConnectError, redactUrl, tlsClientOptions } from './mqtt-client.ts';

const TLS = {
  ca: 'CA PEM',
  cert: 'CERT PEM',
  key: 'KEY PEM',
  passphrase: 'pass',
  servername: 'broker.example.com',
  alpnProtocols: ['x-amzn-mqtt-ca'],
};

describe('TLS options for an MQTT connection', () => {
  it('hands mqtts:// everything tls.connect needs, ALPN and SNI included', () => {
    expect(tlsClientOptions('mqtts://broker.example.com:443', TLS)).toEqual({
      ca: 'CA PEM',
      cert: 'CERT PEM',
      key: 'KEY PEM',
      passphrase: 'pass',
      servername: 'broker.example.com',
      ALPNProtocols: ['x-amzn-mqtt-ca'],
    });
  });

  it('puts them in the WebSocket options for wss://, where mqtt.js would drop SNI and ALPN', () => {
    expect(tlsClientOptions('wss://broker.example.com/mqtt', TLS)).toEqual({
      wsOptions: expect.objectContaining({
        servername: 'broker.example.com',
        ALPNProtocols: ['x-amzn-mqtt-ca'],
      }),
    });
  });

  it('adds nothing to a plain mqtt:// or ws:// connection', () => {
    expect(tlsClientOptions('mqtt://broker:1883', TLS)).toEqual({});
    expect(tlsClientOptions('ws://broker/mqtt', TLS)).toEqual({});
  });
});

describe('why a connection failed, in one line', () => {
  const url = 'mqtts://broker.example.com:8883';
  const err = (code: string | number, message = 'x') => Object.assign(new Error(message), { code });

  it.each([
    ['ERR_SSL_TLSV1_ALERT_UNKNOWN_CA', "refused the gateway's client certificate", 'uplink.tls.cert'],
    [
      'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED',
      "refused the gateway's client certificate",
      'uplink.tls.key',
    ],
    ['SELF_SIGNED_CERT_IN_CHAIN', 'is not signed by a trusted CA', 'uplink.tls.ca'],
    ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'is not signed by a trusted CA', 'uplink.tls.ca'],
    ['ERR_TLS_CERT_ALTNAME_INVALID', 'does not carry the name', 'uplink.tls.servername'],
    ['ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL', 'ALPN', 'x-amzn-mqtt-ca'],
    ['CERT_HAS_EXPIRED', 'validity period', 'clock'],
    ['ECONNREFUSED', 'refused the TCP connection', 'listening'],
    ['ENOTFOUND', 'cannot be resolved', 'uplink.url'],
    [5, 'refused to authorize', 'policy'],
    [4, 'user name or password', 'uplink.password'],
  ])('%s: says %s and points at %s', (code, says, pointsAt) => {
    const line = explainConnectError(err(code), url);
    expect(line).toContain(says);
    expect(line).toContain(pointsAt);
    expect(line).toContain('the broker at mqtts://broker.example.com:8883');
  });

  it("keeps the reason of an OpenSSL error line, not OpenSSL's file names", () => {
    const openssl =
      '804C02223F7F0000:error:0A000418:SSL routines:ssl3_read_bytes:tlsv1 alert unknown ca:../deps/openssl/openssl/ssl/record/rec_layer_s3.c:1601:SSL alert number 48\n';
    const line = explainConnectError(err('ERR_SSL_TLSV1_ALERT_UNKNOWN_CA', openssl), url);
    expect(line).toContain('ERR_SSL_TLSV1_ALERT_UNKNOWN_CA: tlsv1 alert unknown ca');
    expect(line).not.toContain('rec_layer_s3.c');
  });

  it('is always one line, whatever the error says, and never shows credentials in the URL', () => {
    fc.assert(
      fc.property(fc.string(), fc.option(fc.stringMatching(/^[A-Z][A-Z0-9_]*$/)), (message, code) => {
        const line = explainConnectError(
          Object.assign(new Error(message), code === null ? {} : { code }),
          'mqtts://gw:hunter2-secret@broker:8883',
        );
        return !line.includes('\n') && !line.includes('hunter2-secret');
      }),
    );
  });

  it('removes user:password@ from URLs for logs', () => {
    expect(redactUrl('mqtts://gw:secret@broker:8883')).toBe('mqtts://[redacted]@broker:8883');
  });
});
