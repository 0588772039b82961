/**
 * Directories a person names on the command line (`--out`, `--dir`, a
 * config's dataDir), made or checked with one clear error.
 *
 * Not `mkdir(..., { recursive: true })`: on Node 20 it never returns for a
 * path under a special file system such as /proc (mkdir answers ENOENT for
 * a parent that exists, and the recursion retries it forever at 100% CPU).
 * Here each missing level is made on its own, at most MAX_DEPTH of them.
 */
import { mkdir, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { ErrorCode, VendgateError } from './errors.ts';

const MAX_DEPTH = 64;

/** What an errno means to the person who typed the path. */
export function describeErrno(code: string | undefined): string {
  switch (code) {
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EROFS':
      return 'the file system is read-only';
    case 'ENOSPC':
      return 'the disk is full';
    case 'ENOTDIR':
      return 'a part of the path is a file, not a directory';
    case 'EISDIR':
      return 'it is a directory, not a file';
    case 'ENOENT':
      return 'the file system does not allow it (or the path does not exist)';
    case 'EEXIST':
      return 'something that is not a directory is already there';
    case 'ENAMETOOLONG':
      return 'the name is too long';
    default:
      return code ?? 'unknown error';
  }
}

function unusable(what: string, path: string, reason: string, errno?: string): VendgateError {
  return new VendgateError(ErrorCode.CliPathUnusable, `${what} ${path}: ${reason}`, {
    path,
    ...(errno ? { errno } : {}),
  });
}

/**
 * Makes `path` a directory (and its missing parents), or throws
 * CliPathUnusable (1101) naming `what` ("--out", "dataDir") and the reason.
 * Returns the absolute path.
 */
export async function ensureDirectory(path: string, what: string): Promise<string> {
  const target = resolve(path);
  const missing: string[] = [];
  let cur = target;
  for (;;) {
    let isDir: boolean;
    try {
      isDir = (await stat(cur)).isDirectory();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw unusable(what, target, describeErrno(code), code);
      const parent = dirname(cur);
      if (parent === cur || missing.length >= MAX_DEPTH)
        throw unusable(what, target, 'too many directories to make');
      missing.push(cur);
      cur = parent;
      continue;
    }
    if (!isDir) {
      throw unusable(
        what,
        target,
        cur === target ? 'it is a file, not a directory' : `${cur} is a file, not a directory`,
      );
    }
    break;
  }
  for (const dir of missing.reverse()) {
    try {
      await mkdir(dir);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // Made meanwhile by someone else: fine, if it is a directory.
      if (
        code === 'EEXIST' &&
        (await stat(dir).then(
          (s) => s.isDirectory(),
          () => false,
        ))
      )
        continue;
      throw unusable(what, target, `cannot make ${dir}: ${describeErrno(code)}`, code);
    }
  }
  return target;
}
