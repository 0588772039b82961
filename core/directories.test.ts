import { existsSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cleanupsAfterEach } from '../testing/cleanups.ts';
import { expectVendgateError } from '../testing/errors.ts';
import { tempDir } from '../testing/tmp.ts';
import { ensureDirectory } from './directories.ts';
import { ErrorCode } from './errors.ts';

const cleanups = cleanupsAfterEach();
function tmp(): string {
  const t = tempDir('vendgate-dirs-');
  cleanups.push(t.cleanup);
  return t.dir;
}

describe('ensureDirectory', () => {
  it('makes a directory and its missing parents and returns its absolute path', async () => {
    const dir = join(tmp(), 'a', 'b', 'c');
    expect(await ensureDirectory(dir, '--out')).toBe(dir);
    expect(statSync(dir).isDirectory()).toBe(true);
    // Again: nothing to do.
    expect(await ensureDirectory(dir, '--out')).toBe(dir);
  });

  it('refuses a file where a directory is expected, naming the option and the file', async () => {
    const file = join(tmp(), 'plain.txt');
    writeFileSync(file, 'x');
    const err = await expectVendgateError(ensureDirectory(file, '--out'), ErrorCode.CliPathUnusable);
    expect(err.message).toBe(`--out ${file}: it is a file, not a directory`);
    const below = await expectVendgateError(
      ensureDirectory(join(file, 'sub', 'dir'), '--dir'),
      ErrorCode.CliPathUnusable,
    );
    expect(below.message).toBe(`--dir ${join(file, 'sub', 'dir')}: ${file} is a file, not a directory`);
    expect(existsSync(join(file, 'sub'))).toBe(false);
  });

  it.skipIf(!existsSync('/proc/self'))(
    'answers a path under /proc with an error instead of retrying forever',
    async () => {
      const err = await expectVendgateError(
        ensureDirectory('/proc/nope', '--out'),
        ErrorCode.CliPathUnusable,
      );
      expect(err.message).toMatch(/^--out \/proc\/nope: cannot make \/proc\/nope: /);
    },
  );
});
