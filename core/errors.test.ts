import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { isTestFile, listSourceFiles } from '../scripts/boundaries.ts';
import { renderErrorsMarkdown } from '../scripts/errors-doc.ts';
import {
  ERROR_ENTRIES,
  ErrorCode,
  type ErrorCodeName,
  ErrorGroups,
  errorCodeName,
  errorSpec,
  isVendgateError,
  RETIRED_CODES,
  VendgateError,
} from './errors.ts';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Codes no production file raises but that stay in the catalogue because
 * the contract names them (another party sends them to us); each with why.
 * Empty today: every code is raised somewhere.
 */
const RESERVED_FOR_CONTRACT: Partial<Record<ErrorCodeName, string>> = {};

/** Every `ErrorCode.X` in production source outside the catalogue, found in the syntax tree (not in comments). */
function codesUsedInSource(): Map<string, string[]> {
  const used = new Map<string, string[]>();
  for (const file of listSourceFiles(repoRoot)) {
    if (file === 'core/errors.ts' || isTestFile(file)) continue;
    const text = readFileSync(join(repoRoot, file), 'utf8');
    if (!text.includes('ErrorCode')) continue;
    const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
    const visit = (node: ts.Node): void => {
      if (
        ts.isPropertyAccessExpression(node) &&
        ts.isIdentifier(node.expression) &&
        node.expression.text === 'ErrorCode'
      ) {
        const name = node.name.text;
        used.set(name, [...(used.get(name) ?? []), file]);
      }
      ts.forEachChild(node, visit);
    };
    visit(sf);
  }
  return used;
}

describe('the error catalogue', () => {
  it('declares each code once, under one name', () => {
    const codes = ERROR_ENTRIES.map((e) => e.code);
    const duplicates = codes.filter((c, i) => codes.indexOf(c) !== i);
    expect(duplicates, 'numbers declared twice').toEqual([]);
    const names = ERROR_ENTRIES.map((e) => e.name);
    expect(
      names.filter((n, i) => names.indexOf(n) !== i),
      'names declared twice',
    ).toEqual([]);
    expect(Object.keys(ErrorCode)).toHaveLength(ERROR_ENTRIES.length);
  });

  it('puts each code in the numbered range of its group, and the ranges do not overlap', () => {
    const groups = Object.entries(ErrorGroups).sort(([, a], [, b]) => a.first - b.first);
    for (const [key, g] of groups) {
      expect(g.first, key).toBeGreaterThanOrEqual(1000);
      expect(g.last, key).toBeLessThanOrEqual(99_999);
      expect(g.first, key).toBeLessThan(g.last);
    }
    for (let i = 1; i < groups.length; i++) {
      expect(groups[i]![1].first, `${groups[i]![0]} overlaps ${groups[i - 1]![0]}`).toBeGreaterThan(
        groups[i - 1]![1].last,
      );
    }
    const outside = ERROR_ENTRIES.filter((e) => {
      const g = ErrorGroups[e.group];
      return !Number.isInteger(e.code) || e.code < g.first || e.code > g.last;
    }).map(
      (e) =>
        `${e.name} ${e.code} is outside ${e.group} ${ErrorGroups[e.group].first}-${ErrorGroups[e.group].last}`,
    );
    expect(outside).toEqual([]);
  });

  it('never gives a retired number to a new code', () => {
    const reused = ERROR_ENTRIES.filter((e) => e.code in RETIRED_CODES).map((e) => `${e.name} ${e.code}`);
    expect(reused).toEqual([]);
  });

  it('documents every code with a one-line meaning and an HTTP error status', () => {
    const bad = ERROR_ENTRIES.filter(
      (e) =>
        e.meaning.trim().length < 10 ||
        e.meaning.includes('\n') ||
        e.meaning.length > 120 ||
        !/^[A-Z].*\.$/.test(e.meaning) ||
        e.status < 400 ||
        e.status > 599,
    ).map((e) => `${e.name}: ${e.status} "${e.meaning}"`);
    expect(bad).toEqual([]);
  });

  it('has no code that no production file raises, unless the contract reserves it', () => {
    const used = codesUsedInSource();
    const unused = ERROR_ENTRIES.filter((e) => !used.has(e.name) && !(e.name in RESERVED_FOR_CONTRACT)).map(
      (e) => `${e.name} (${e.code})`,
    );
    expect(unused, 'codes declared but never used outside core/errors.ts').toEqual([]);
    const reservedButUsed = Object.keys(RESERVED_FOR_CONTRACT).filter((n) => used.has(n));
    expect(reservedButUsed, 'reserved codes that are now used: drop them from the list').toEqual([]);
    const unknown = [...used.keys()].filter((n) => !(n in ErrorCode));
    expect(unknown, 'ErrorCode.X names the catalogue does not declare').toEqual([]);
  });

  it('keeps the ErrorCode object, names and VendgateError as the tree uses them', () => {
    expect(ErrorCode.ConfigInvalid).toBe(1001);
    expect(ErrorCode.OrderNotFound).toBe(5007);
    expect(errorCodeName(8009)).toBe('CouponUnknown');
    expect(errorCodeName(5005)).toBeUndefined();
    expect(errorSpec(ErrorCode.OrderNotFound)).toMatchObject({
      name: 'OrderNotFound',
      status: 404,
      group: 'orders',
    });
    const cause = new Error('disk');
    const err = new VendgateError(ErrorCode.StoreOpenFailed, 'cannot open', { path: '/x.db' }, { cause });
    expect(err).toBeInstanceOf(Error);
    expect(err).toMatchObject({ name: 'VendgateError', code: 2001, codeName: 'StoreOpenFailed', cause });
    expect(err.toJSON()).toEqual({
      code: 2001,
      name: 'StoreOpenFailed',
      message: 'cannot open',
      context: { path: '/x.db' },
    });
    expect(isVendgateError(err)).toBe(true);
    expect(isVendgateError(err, ErrorCode.StoreOpenFailed)).toBe(true);
    expect(isVendgateError(err, ErrorCode.StoreMigrationFailed)).toBe(false);
    expect(isVendgateError(cause)).toBe(false);
  });

  it('is written to docs/errors.md, one row per code in its range (run `npm run docs` when this fails)', () => {
    const committed = readFileSync(join(repoRoot, 'docs/errors.md'), 'utf8');
    expect(committed, 'docs/errors.md is stale').toBe(renderErrorsMarkdown());
    for (const e of ERROR_ENTRIES) {
      expect(committed).toContain(`| ${e.code} | \`${e.name}\` | ${e.status} | `);
    }
  });
});
