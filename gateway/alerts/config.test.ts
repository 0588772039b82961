import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../core/errors.ts';
import { cleanupsAfterEach } from '../../testing/cleanups.ts';
import { expectVendgateError } from '../../testing/errors.ts';
import { tempDir } from '../../testing/tmp.ts';
import { loadConfig } from '../config/load.ts';
import { maskSecrets } from '../config/secrets.ts';

const cleanups = cleanupsAfterEach();

function configFile(yaml: string): string {
  const tmp = tempDir('vendgate-alerts-config-');
  cleanups.push(tmp.cleanup);
  const path = join(tmp.dir, 'vendgate.yaml');
  writeFileSync(path, yaml);
  return path;
}

const HOOK = 'alerts:\n  webhooks:\n    - url: https://ops.example.com/hooks/vendgate\n';

describe('the alerts config', () => {
  it('has defaults: MQTT on, no webhooks, a bound of 1000 per sink', () => {
    const { config } = loadConfig({ path: configFile('{}'), env: {} });
    expect(config.alerts).toMatchObject({ webhooks: [], mqtt: true, queueMax: 1000 });
  });

  it('takes a webhook secret from the environment and masks it wherever the config is shown', () => {
    const secret = 'from-the-environment-0123';
    const { config } = loadConfig({
      path: configFile(HOOK),
      env: { VENDGATE_ALERTS__WEBHOOKS__0__SECRET: secret },
    });
    expect(config.alerts.webhooks[0]).toMatchObject({ secret, timeoutMs: 5000 });
    expect(JSON.stringify(maskSecrets(config))).not.toContain(secret);
  });

  it('refuses a webhook without a secret, naming the field', async () => {
    const err = await expectVendgateError(
      () => loadConfig({ path: configFile(HOOK), env: {} }),
      ErrorCode.ConfigInvalid,
    );
    expect(err.message).toContain('alerts.webhooks.0.secret');
  });

  it('refuses a short secret set in the environment, naming the variable but not the value', async () => {
    const err = await expectVendgateError(
      () =>
        loadConfig({ path: configFile(HOOK), env: { VENDGATE_ALERTS__WEBHOOKS__0__SECRET: 'tiny-secret' } }),
      ErrorCode.ConfigInvalid,
    );
    expect(err.message).toContain('VENDGATE_ALERTS__WEBHOOKS__0__SECRET');
    expect(JSON.stringify({ m: err.message, c: err.context })).not.toContain('tiny-secret');
  });

  it('refuses retry.maxMs below retry.initialMs', async () => {
    const err = await expectVendgateError(
      () => loadConfig({ path: configFile('alerts:\n  retry: { initialMs: 5000, maxMs: 100 }\n'), env: {} }),
      ErrorCode.ConfigInvalid,
    );
    expect(err.message).toContain('alerts.retry.maxMs');
  });
});
