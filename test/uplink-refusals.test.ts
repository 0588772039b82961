import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { join } from 'node:path';
import { createServer, type Server, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../core/errors.ts';
import type { ConfigInput } from '../gateway/config/schema.ts';
import { cleanupsAfterEach } from '../testing/cleanups.ts';
import { expectVendgateError } from '../testing/errors.ts';
import { tempDir } from '../testing/tmp.ts';
import { waitUntil } from '../testing/wait.ts';
import { type MosquittoHandle, mosquittoAvailable, startMosquitto } from './support/mosquitto.ts';
import { createTestPki, type TestPki } from './support/pki.ts';
import { startUplinkSite, type UplinkSite } from './support/uplink-site.ts';

/**
 * What the operator sees when the uplink's TLS is wrong: the gateway keeps
 * retrying (the network may come back), says why in one log line naming the
 * config field to fix, and never goes online. Mismatched files stop the
 * start instead. Against Mosquitto requiring client certificates, and a TLS
 * terminator that, like AWS IoT Core on port 443, serves MQTT only to
 * clients offering the ALPN protocol x-amzn-mqtt-ca.
 */
describe.skipIf(!mosquittoAvailable())('a refused uplink', () => {
  const cleanups = cleanupsAfterEach();
  let tmp: ReturnType<typeof tempDir>;
  let pki: TestPki;
  let mosquitto: MosquittoHandle;

  beforeAll(async () => {
    tmp = tempDir('vendgate-uplink-refused-');
    pki = createTestPki(tmp.dir);
    mosquitto = await startMosquitto({
      tls: { caFile: pki.ca.cert, certFile: pki.server.cert, keyFile: pki.server.key },
    });
  });
  afterAll(async () => {
    await mosquitto?.stop();
    tmp?.cleanup();
  });

  const site = (uplink: ConfigInput['uplink']) => {
    const dir = tempDir('vendgate-uplink-site-');
    cleanups.push(dir.cleanup);
    return startUplinkSite({
      dir: dir.dir,
      cleanups,
      board: false,
      platformUrl: mosquitto.url,
      config: { uplink },
    });
  };
  const good = () => ({ ca: pki.ca.cert, cert: pki.client.cert, key: pki.client.key });

  /** Waits for a few reconnects, then returns the uplink's error lines. */
  const afterRetries = async (s: UplinkSite) => {
    await waitUntil(() => s.logs.matching('reconnecting to the platform broker').length >= 3, {
      timeoutMs: 20_000,
      what: 'three reconnect attempts',
    });
    expect(s.gw.link.connected).toBe(false);
    expect(s.platform.statuses.some((st) => st.state === 'online')).toBe(false);
    return s.logs.lines.filter((l) => l.ns === 'uplink' && l.level >= 50);
  };

  it("logs once, naming the certificate fields, when the broker refuses the gateway's client certificate", async () => {
    const s = await site({
      url: mosquitto.tlsUrl!,
      tls: { ca: pki.ca.cert, cert: pki.rogueClient.cert, key: pki.rogueClient.key },
    });
    const errors = await afterRetries(s);
    const refused = errors.filter((l) => l.msg.includes("refused the gateway's client certificate"));
    expect(refused).toHaveLength(1);
    expect(refused[0]).toMatchObject({ code: ErrorCode.BrokerUnreachable, url: mosquitto.tlsUrl });
    expect(refused[0]?.msg).toMatch(/^uplink: the broker at mqtts:\/\/localhost:\d+ refused/);
    expect(refused[0]?.msg).toContain('uplink.tls.cert and uplink.tls.key');
    // One line per distinct cause, not one per retry.
    expect(errors.length).toBeLessThanOrEqual(2);
  });

  it('names uplink.tls.ca when the broker certificate is not signed by the configured CA', async () => {
    const s = await site({
      url: mosquitto.tlsUrl!,
      tls: { ...good(), ca: pki.rogueCa.cert },
    });
    const errors = await afterRetries(s);
    expect(errors.map((l) => l.msg)).toEqual([expect.stringContaining('set uplink.tls.ca to the CA bundle')]);
  });

  it('checks the broker certificate against uplink.tls.servername, the name it sends as SNI', async () => {
    const s = await site({
      url: `mqtts://127.0.0.1:${mosquitto.tlsPort}`,
      tls: { ...good(), servername: 'not-the-broker.example' },
    });
    const errors = await afterRetries(s);
    expect(errors.map((l) => l.msg)).toEqual([
      expect.stringMatching(/not-the-broker\.example.*uplink\.tls\.servername/),
    ]);
  });

  describe('behind a TLS endpoint that serves MQTT only with ALPN x-amzn-mqtt-ca', () => {
    let endpoint: Server;
    let port: number;
    beforeAll(async () => {
      endpoint = createServer(
        {
          cert: readFileSync(pki.server.cert),
          key: readFileSync(pki.server.key),
          ca: readFileSync(pki.ca.cert),
          requestCert: true,
          rejectUnauthorized: true,
          ALPNProtocols: ['x-amzn-mqtt-ca'],
        },
        (socket: TLSSocket) => {
          if (socket.alpnProtocol !== 'x-amzn-mqtt-ca') {
            socket.destroy();
            return;
          }
          const upstream = netConnect(mosquitto.port, '127.0.0.1');
          socket.pipe(upstream).pipe(socket);
          const close = () => {
            socket.destroy();
            upstream.destroy();
          };
          socket.on('error', close).on('close', close);
          upstream.on('error', close).on('close', close);
        },
      );
      endpoint.on('tlsClientError', () => {});
      await new Promise<void>((resolve) => endpoint.listen(0, '127.0.0.1', resolve));
      port = (endpoint.address() as { port: number }).port;
    });
    afterAll(() => new Promise<void>((resolve) => endpoint?.close(() => resolve())));

    it('goes online when uplink.tls.alpn offers x-amzn-mqtt-ca', async () => {
      const s = await site({
        url: `mqtts://localhost:${port}`,
        tls: { ...good(), alpn: ['x-amzn-mqtt-ca'] },
      });
      await waitUntil(() => s.platform.lastStatus?.state === 'online', {
        timeoutMs: 20_000,
        what: 'online through the ALPN endpoint',
      });
    });

    it('says the broker closed the connection before accepting the gateway when no ALPN is offered', async () => {
      const s = await site({ url: `mqtts://localhost:${port}`, tls: good() });
      const errors = await afterRetries(s);
      expect(errors.length).toBeGreaterThanOrEqual(1);
      expect(errors.length).toBeLessThanOrEqual(2);
      expect(errors[0]?.msg).toMatch(
        /closed the connection before accepting the gateway|dropped the connection/,
      );
    });
  });

  it('does not start when the key is not the certificate’s, naming both files', async () => {
    const err = await expectVendgateError(
      site({ url: mosquitto.tlsUrl!, tls: { ...good(), key: pki.rogueClient.key } }),
      ErrorCode.ConfigInvalid,
    );
    expect(err.message).toContain(
      `uplink.tls.key (${pki.rogueClient.key}) is not the private key of uplink.tls.cert (${pki.client.cert})`,
    );
  });

  it('reads an encrypted key with uplink.tls.keyPassphrase, and does not start without it', async () => {
    const encrypted = join(tmp.dir, 'client-encrypted.key');
    execFileSync('openssl', [
      'pkey',
      '-in',
      pki.client.key,
      '-aes256',
      '-passout',
      'pass:correct horse',
      '-out',
      encrypted,
    ]);
    const err = await expectVendgateError(
      site({ url: mosquitto.tlsUrl!, tls: { ...good(), key: encrypted } }),
      ErrorCode.ConfigInvalid,
    );
    expect(err.message).toContain('is encrypted and uplink.tls.keyPassphrase is missing or wrong');

    const s = await site({
      url: mosquitto.tlsUrl!,
      tls: { ...good(), key: encrypted, keyPassphrase: 'correct horse' },
    });
    await waitUntil(() => s.platform.lastStatus?.state === 'online', {
      timeoutMs: 20_000,
      what: 'online with the encrypted key',
    });
  });
});
