import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  checkBoundaries,
  describeViolation,
  findCycles,
  LAYERS,
  parseImports,
  SIMULATOR_IMPORTERS,
} from '../scripts/boundaries.ts';
import { cleanupsAfterEach, tempDir } from '../testing/index.ts';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');

describe('the layout boundaries of this repository', () => {
  it('hold: no folder imports what its layer may not, only main/, test/, bench/ and firmware-sim/ import a simulator, and production files import no cycle', () => {
    const found = checkBoundaries(repoRoot).map(describeViolation);
    expect(found, `boundary violations:\n${found.join('\n')}`).toEqual([]);
  });
});

describe('the import parser', () => {
  const specs = (text: string, file = 'x.ts') => parseImports(text, file).map((r) => r.specifier);

  it('finds static imports of every form, with their line', () => {
    const refs = parseImports(
      [
        "import { a } from './a.ts';",
        "import './side-effect.ts';",
        "import * as ns from '../ns.ts';",
        'import d, { b } from "./b.js";',
      ].join('\n'),
    );
    expect(refs).toEqual([
      { specifier: './a.ts', kind: 'static', typeOnly: false, line: 1 },
      { specifier: './side-effect.ts', kind: 'static', typeOnly: false, line: 2 },
      { specifier: '../ns.ts', kind: 'static', typeOnly: false, line: 3 },
      { specifier: './b.js', kind: 'static', typeOnly: false, line: 4 },
    ]);
  });

  it('finds dynamic import() of a literal, nested anywhere, and skips one of a computed name', () => {
    const text = [
      'export async function load(name: string) {',
      "  const lazy = await import('./lazy.ts');",
      '  const tpl = await import(`./template.ts`);',
      '  const computed = await import(name);',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the source text under test holds a template literal
      '  const built = await import(`./${name}.ts`);',
      '  return [lazy, tpl, computed, built];',
      '}',
    ].join('\n');
    expect(parseImports(text)).toEqual([
      { specifier: './lazy.ts', kind: 'dynamic', typeOnly: false, line: 2 },
      { specifier: './template.ts', kind: 'dynamic', typeOnly: false, line: 3 },
    ]);
  });

  it('finds export ... from in every form, and marks export type as type-only', () => {
    const refs = parseImports(
      [
        "export { x } from './x.ts';",
        "export * from './all.ts';",
        "export * as ns from './ns.ts';",
        "export type { T } from './types.ts';",
        'export { local };',
        'const local = 1;',
      ].join('\n'),
    );
    expect(refs.map((r) => [r.specifier, r.kind, r.typeOnly])).toEqual([
      ['./x.ts', 'export', false],
      ['./all.ts', 'export', false],
      ['./ns.ts', 'export', false],
      ['./types.ts', 'export', true],
    ]);
  });

  it('finds type-only imports: import type, a type position import(), and an inline type modifier', () => {
    const refs = parseImports(
      [
        "import type { T } from './t.ts';",
        "import { type U } from './u.ts';",
        "let v: import('./v.ts').V;",
        "type W = typeof import('./w.ts');",
      ].join('\n'),
    );
    expect(refs.map((r) => [r.specifier, r.kind, r.typeOnly])).toEqual([
      ['./t.ts', 'static', true],
      // With verbatimModuleSyntax `import { type U }` stays as a side-effect import at runtime.
      ['./u.ts', 'static', false],
      ['./v.ts', 'import-type', true],
      ['./w.ts', 'import-type', true],
    ]);
  });

  it('finds require() and import x = require() in scripts', () => {
    expect(specs("const a = require('./a.cjs');\nmodule.exports = a;", 'x.js')).toEqual(['./a.cjs']);
    expect(specs("import b = require('./b.ts');")).toEqual(['./b.ts']);
  });

  it('ignores comments, strings, templates and method calls that only look like imports', () => {
    const text = [
      "// import a from './line-comment.ts';",
      "/* export * from './block-comment.ts'; import('./block-dynamic.ts') */",
      '/**',
      " * @example import { b } from './jsdoc.ts';",
      ' */',
      `const s = "import c from './string.ts'";`,
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the source text under test holds a template literal
      "const t = `export { d } from './template.ts'; ${1 + 1} import('./template-dynamic.ts')`;",
      "const u = loader.import('./method.ts');",
      "const re = /import e from '.\\/regex.ts'/;",
      "import { real } from './real.ts';",
    ].join('\n');
    expect(specs(text)).toEqual(['./real.ts']);
  });

  it('finds exactly the real imports among any mix of imports and look-alikes (property)', () => {
    const spec = fc.stringMatching(/^\.\.?\/[a-z][a-z0-9-]{0,7}(\/[a-z][a-z0-9-]{0,7})?\.(ts|js|mjs)$/);
    const real = fc
      .tuple(fc.constantFrom('static', 'type', 'export', 'star', 'dynamic', 'side'), spec)
      .map(([form, s]) => {
        const line = {
          static: `import { a } from '${s}';`,
          type: `import type { T } from '${s}';`,
          export: `export { b } from '${s}';`,
          star: `export * from "${s}";`,
          dynamic: `void import('${s}');`,
          side: `import '${s}';`,
        }[form]!;
        return { line, real: s };
      });
    const decoy = fc.tuple(fc.constantFrom('line', 'block', 'string', 'template'), spec).map(([form, s]) => {
      const fake = `import z from "${s}"; import("${s}")`;
      const line = {
        line: `// ${fake}`,
        block: `/* ${fake} */`,
        string: `const q = '${fake}';`,
        template: `const r = \`${fake} \${0}\`;`,
      }[form]!;
      return { line, real: undefined };
    });
    fc.assert(
      fc.property(fc.array(fc.oneof(real, decoy), { maxLength: 12 }), (items) => {
        const text = items.map((i) => i.line).join('\n');
        expect(specs(text)).toEqual(items.flatMap((i) => (i.real === undefined ? [] : [i.real])));
      }),
    );
  });
});

describe('the boundary checker', () => {
  const cleanups = cleanupsAfterEach();
  const tree = (files: Record<string, string>): string => {
    const tmp = tempDir('vendgate-boundaries-');
    cleanups.push(tmp.cleanup);
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(dirname(join(tmp.dir, path)), { recursive: true });
      writeFileSync(join(tmp.dir, path), text);
    }
    return tmp.dir;
  };
  const importOf = (from: string, to: string): string => {
    const up = '../'.repeat(from.split('/').length - 1);
    return `import { x } from '${up}${to}';\n`;
  };
  const folders = LAYERS.map((r) => r.folder);

  it('accepts every import the layer table allows, tests importing across layers, and node_modules', () => {
    const files: Record<string, string> = {
      'core/errors.ts': 'export const x = 1;\n',
      'core/log.ts': importOf('core/log.ts', 'core/errors.ts'),
      'node_modules/pkg/index.js': importOf('node_modules/pkg/index.js', 'firmware-sim/sim.ts'),
      'dist/bundle.mjs': importOf('dist/bundle.mjs', 'firmware-sim/sim.ts'),
      'gateway/ledger.test.ts': importOf('gateway/ledger.test.ts', 'api/server.ts'),
      'firmware-sim/sim.test.ts': importOf('firmware-sim/sim.test.ts', 'testing/index.ts'),
    };
    for (const rule of LAYERS) {
      const allowed =
        'mayImport' in rule
          ? rule.mayImport
          : folders.filter((f) => f !== rule.folder && !rule.mayNotImport.includes(f));
      for (const to of allowed) {
        if (to === 'firmware-sim' && !SIMULATOR_IMPORTERS.includes(rule.folder)) continue;
        const from = `${rule.folder}/uses-${to}.ts`;
        files[from] = importOf(from, `${to}/x.ts`);
      }
    }
    expect(checkBoundaries(tree(files)).map(describeViolation)).toEqual([]);
  });

  it('reports every import the layer table forbids, naming the file, the line and the import', () => {
    const files: Record<string, string> = {};
    const expected: string[] = [];
    for (const rule of LAYERS) {
      const forbidden =
        'mayImport' in rule
          ? folders.filter((f) => f !== rule.folder && !rule.mayImport.includes(f))
          : rule.mayNotImport;
      for (const to of forbidden) {
        const from = `${rule.folder}/uses-${to}.ts`;
        files[from] = `// line 1\n${importOf(from, `${to}/x.ts`)}`;
        expected.push(`${from}:2 imports '../${to}/x.ts' (${to}/x.ts)`);
      }
    }
    expect(expected.length).toBeGreaterThan(30);
    const found = checkBoundaries(tree(files)).map(describeViolation);
    expect(found).toHaveLength(expected.length);
    for (const e of expected)
      expect(
        found.some((f) => f.startsWith(`${e}: `)),
        e,
      ).toBe(true);
  });

  it('says which rule an import breaks', () => {
    const found = checkBoundaries(
      tree({
        'core/money.ts': "import { x } from '../contract/common.ts';\n",
        'contract/events.ts': "export type { T } from '../devices/types.ts';\n",
        'gateway/link.ts': "const m = await import('../api/server.ts');\n",
      }),
    ).map(describeViolation);
    expect(found).toEqual([
      "contract/events.ts:1 imports '../devices/types.ts' (devices/types.ts): contract/ may import only core/ of ours",
      "core/money.ts:1 imports '../contract/common.ts' (contract/common.ts): core/ may import nothing of ours",
      "gateway/link.ts:1 imports '../api/server.ts' (api/server.ts): gateway/ may not import api/",
    ]);
  });

  it('holds test files and files outside the layers to the simulator rule only', () => {
    const found = checkBoundaries(
      tree({
        'gateway/beacons.test.ts': "import { sim } from '../firmware-sim/beacons.ts';\n",
        'api/kiosk.test.ts': "import { main } from '../main/cli.ts';\n",
        'scripts/docs.ts': "import { sim } from '../firmware-sim/display.ts';\n",
        'vitest.config.ts': "import { sim } from './firmware-sim/display.ts';\n",
        'main/demo.ts': "import { sim } from '../firmware-sim/display.ts';\n",
        'bench/run.ts': "import { sim } from '../firmware-sim/display.ts';\n",
      }),
    ).map((v) => `${v.file}: ${v.rule}`);
    const rule = 'only main/, test/, bench/, firmware-sim/ may import firmware-sim/';
    expect(found).toEqual([
      `gateway/beacons.test.ts: ${rule}`,
      `scripts/docs.ts: ${rule}`,
      `vitest.config.ts: ${rule}`,
    ]);
  });

  it('reports a production import cycle with its files in import order, type-only and dynamic imports included', () => {
    const found = checkBoundaries(
      tree({
        'gateway/a.ts': "import { b } from './b.js';\n",
        'gateway/b.ts': "import type { C } from './c.ts';\n",
        'gateway/c.ts': "const a = () => import('./a.ts');\n",
        'gateway/d.ts': "import { a } from './a.ts';\n",
        'devices/self.ts': "export * from './self.ts';\n",
        // A test importing the module that imports it is not a production cycle.
        'api/server.ts': "import { t } from './server.test.ts';\n",
        'api/server.test.ts': "import { s } from './server.ts';\n",
      }),
    ).map(describeViolation);
    expect(found).toEqual([
      'import cycle: devices/self.ts -> devices/self.ts',
      'import cycle: gateway/a.ts -> gateway/b.ts -> gateway/c.ts -> gateway/a.ts',
    ]);
  });

  it('reports one shortest cycle per tangle of files, starting from its first file', () => {
    const edges = [
      ['e', 'a'],
      ['a', 'b'],
      ['b', 'c'],
      ['c', 'a'],
      ['b', 'a'],
      ['x', 'y'],
      ['y', 'x'],
      ['y', 'z'],
    ].map(([from, to]) => ({ from: from!, to: to! }));
    expect(findCycles(edges)).toEqual([
      ['a', 'b', 'a'],
      ['x', 'y', 'x'],
    ]);
  });
});
