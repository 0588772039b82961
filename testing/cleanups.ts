import { afterEach } from 'vitest';

export type Cleanup = () => Promise<unknown> | unknown;

/**
 * A list a test file pushes its cleanups to (brokers, stores, temp dirs);
 * after each test they run newest first, and one that throws does not keep
 * the others from running.
 */
export function cleanupsAfterEach(): Cleanup[] {
  const cleanups: Cleanup[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) {
      try {
        await c();
      } catch {}
    }
  });
  return cleanups;
}
