import { readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, posix } from 'node:path';
import ts from 'typescript';

/**
 * The layout's import boundaries as data, and the checker that
 * test/boundaries.test.ts runs over the whole repository. The README's
 * "Layout" drawing is written from LAYERS and SIMULATOR_IMPORTERS.
 */

export type Folder =
  | 'core'
  | 'contract'
  | 'devices'
  | 'gateway'
  | 'api'
  | 'platform'
  | 'firmware-sim'
  | 'main'
  | 'testing'
  | 'test'
  | 'bench';

/**
 * What a folder's production files (not `*.test.ts`) may import of ours,
 * besides their own folder: either only the folders in `mayImport`, or
 * anything but the folders in `mayNotImport`.
 */
export type LayerRule = { folder: Folder; purpose: string } & (
  | { mayImport: readonly Folder[] }
  | { mayNotImport: readonly Folder[] }
);

export const LAYERS: readonly LayerRule[] = [
  { folder: 'core', purpose: 'error catalogue, logging, money, version', mayImport: [] },
  { folder: 'contract', purpose: 'the MQTT contract: schemas, signing, MQTT client', mayImport: ['core'] },
  { folder: 'devices', purpose: 'vending, beacon and display devices', mayImport: ['core', 'contract'] },
  {
    folder: 'gateway',
    purpose: 'ledger, outbox, link, broker, coupons, cashless, beacons, store, config',
    mayNotImport: ['api', 'main', 'platform', 'firmware-sim', 'testing', 'test', 'bench'],
  },
  {
    folder: 'api',
    purpose: 'fastify REST API, dashboard, kiosk',
    mayNotImport: ['main', 'firmware-sim', 'test', 'testing', 'bench'],
  },
  {
    folder: 'platform',
    purpose: "the operator's service",
    mayNotImport: ['gateway', 'devices', 'main', 'firmware-sim', 'test', 'testing', 'bench'],
  },
  {
    folder: 'firmware-sim',
    purpose: 'simulated devices, platform and provider sandboxes',
    mayNotImport: ['gateway', 'api', 'main', 'platform', 'test', 'bench'],
  },
  {
    folder: 'testing',
    purpose: 'the testing entry: fakes and helpers, no simulators',
    mayNotImport: ['firmware-sim', 'test', 'bench', 'main'],
  },
  { folder: 'bench', purpose: 'benchmarks', mayNotImport: ['test'] },
  { folder: 'main', purpose: 'composition roots and the CLI', mayNotImport: [] },
  { folder: 'test', purpose: 'cross-layer tests and their harness', mayNotImport: [] },
];

/** The only folders whose files, tests included, may import firmware-sim/ (they start simulators). */
export const SIMULATOR_IMPORTERS: readonly string[] = ['main', 'test', 'bench', 'firmware-sim'];

const SOURCE_EXTENSIONS = new Set(['.ts', '.mts', '.mjs', '.js', '.cjs']);
const SKIPPED_DIRS = new Set(['node_modules', 'dist', 'coverage', '.git']);

export function isTestFile(path: string): boolean {
  return /\.test\.[cm]?[jt]s$/.test(path);
}

/** Every source file under `root`, repository-relative with `/`, sorted. */
export function listSourceFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const entry of readdirSync(join(root, rel), { withFileTypes: true })) {
      const path = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory()) {
        if (!SKIPPED_DIRS.has(entry.name)) walk(path);
      } else if (entry.isFile() && SOURCE_EXTENSIONS.has(extname(entry.name))) {
        out.push(path);
      }
    }
  };
  walk('');
  return out.sort();
}

export type ImportKind = 'static' | 'export' | 'dynamic' | 'import-type' | 'require';

export interface ImportRef {
  specifier: string;
  kind: ImportKind;
  /** `import type`, `export type`, or a type position `import('x').T`: erased at runtime. */
  typeOnly: boolean;
  /** 1-based. */
  line: number;
}

/**
 * Every module an ES or TypeScript file names: `import`, `export ... from`,
 * `import()` with a literal, `import('x')` in a type, `import x = require()`
 * and `require()`. It walks TypeScript's syntax tree, so comments and strings
 * that only look like imports are not counted; an `import()` of a computed
 * name cannot be resolved and is skipped.
 */
export function parseImports(text: string, fileName = 'module.ts'): ImportRef[] {
  const ext = extname(fileName);
  const kind = ext === '.ts' || ext === '.mts' ? ts.ScriptKind.TS : ts.ScriptKind.JS;
  const sf = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true, kind);
  const refs: ImportRef[] = [];
  const add = (node: ts.Node, spec: ts.Node | undefined, k: ImportKind, typeOnly: boolean): void => {
    if (!spec || !ts.isStringLiteralLike(spec)) return;
    const line = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1;
    refs.push({ specifier: spec.text, kind: k, typeOnly, line });
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node)) {
      add(node, node.moduleSpecifier, 'static', node.importClause?.isTypeOnly ?? false);
    } else if (ts.isExportDeclaration(node)) {
      add(node, node.moduleSpecifier, 'export', node.isTypeOnly);
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      add(node, node.moduleReference.expression, 'require', node.isTypeOnly);
    } else if (ts.isImportTypeNode(node)) {
      const arg = node.argument;
      if (ts.isLiteralTypeNode(arg)) add(node, arg.literal, 'import-type', true);
    } else if (ts.isCallExpression(node) && node.arguments.length > 0) {
      if (node.expression.kind === ts.SyntaxKind.ImportKeyword) {
        add(node, node.arguments[0], 'dynamic', false);
      } else if (ts.isIdentifier(node.expression) && node.expression.text === 'require') {
        add(node, node.arguments[0], 'require', false);
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return refs;
}

/** The top folder of a repository-relative path; `(root)` for a file at the top, `(outside)` above it. */
export function folderOf(path: string): string {
  if (path.startsWith('../')) return '(outside)';
  const slash = path.indexOf('/');
  return slash < 0 ? '(root)' : path.slice(0, slash);
}

/**
 * The repository-relative file a relative specifier names, or undefined for
 * a package import. An import of `x.js` that exists as `x.ts` resolves to
 * it, as TypeScript's NodeNext resolution does.
 */
export function resolveRelative(
  from: string,
  specifier: string,
  exists: (path: string) => boolean,
): string | undefined {
  if (!specifier.startsWith('./') && !specifier.startsWith('../')) return undefined;
  const target = posix.normalize(posix.join(posix.dirname(from), specifier));
  const candidates = [target, target.replace(/\.([cm]?)js$/, '.$1ts'), `${target}.ts`, `${target}/index.ts`];
  return candidates.find(exists) ?? target;
}

export interface Violation {
  rule: string;
  file: string;
  line: number;
  specifier: string;
  /** The file the import names, or the cycle's files in order. */
  target: string;
}

export function describeViolation(v: Violation): string {
  return v.rule === 'cycle'
    ? `import cycle: ${v.target}`
    : `${v.file}:${v.line} imports '${v.specifier}' (${v.target}): ${v.rule}`;
}

interface Edge {
  from: string;
  to: string;
  ref: ImportRef;
}

/** Checks every source file under `root` against LAYERS, SIMULATOR_IMPORTERS and the no-cycle rule. */
export function checkBoundaries(root: string): Violation[] {
  const files = listSourceFiles(root);
  const known = new Set(files);
  const exists = (p: string): boolean => {
    if (known.has(p)) return true;
    try {
      return statSync(join(root, p)).isFile();
    } catch {
      return false;
    }
  };
  const edges: Edge[] = [];
  for (const file of files) {
    for (const ref of parseImports(readFileSync(join(root, file), 'utf8'), file)) {
      const to = resolveRelative(file, ref.specifier, exists);
      if (to !== undefined) edges.push({ from: file, to, ref });
    }
  }
  const violations: Violation[] = [];
  const rules = new Map(LAYERS.map((r) => [r.folder as string, r]));
  for (const e of edges) {
    const from = folderOf(e.from);
    const to = folderOf(e.to);
    if (from === to) continue;
    const v = { file: e.from, line: e.ref.line, specifier: e.ref.specifier, target: e.to };
    if (to === 'firmware-sim' && !SIMULATOR_IMPORTERS.includes(from)) {
      violations.push({
        ...v,
        rule: `only ${SIMULATOR_IMPORTERS.map((f) => `${f}/`).join(', ')} may import firmware-sim/`,
      });
      continue;
    }
    const rule = rules.get(from);
    if (!rule || isTestFile(e.from)) continue;
    if ('mayImport' in rule && !rule.mayImport.includes(to as Folder)) {
      const allowed = rule.mayImport.length
        ? `only ${rule.mayImport.map((f) => `${f}/`).join(', ')}`
        : 'nothing';
      violations.push({ ...v, rule: `${from}/ may import ${allowed} of ours` });
    } else if ('mayNotImport' in rule && rule.mayNotImport.includes(to as Folder)) {
      violations.push({ ...v, rule: `${from}/ may not import ${to}/` });
    }
  }
  const production = edges.filter((e) => !isTestFile(e.from) && !isTestFile(e.to) && known.has(e.to));
  for (const cycle of findCycles(production)) {
    const first = production.find((e) => e.from === cycle[0] && e.to === cycle[1]);
    violations.push({
      rule: 'cycle',
      file: cycle[0]!,
      line: first?.ref.line ?? 0,
      specifier: first?.ref.specifier ?? '',
      target: cycle.join(' -> '),
    });
  }
  return violations;
}

/**
 * One cycle per strongly connected component of the import graph (Tarjan),
 * as the files in import order from the component's first file back to it.
 */
export function findCycles(edges: readonly { from: string; to: string }[]): string[][] {
  const next = new Map<string, string[]>();
  for (const e of edges) {
    const list = next.get(e.from) ?? [];
    if (!list.includes(e.to)) list.push(e.to);
    next.set(e.from, list);
  }
  for (const list of next.values()) list.sort();
  const nodes = [...new Set(edges.flatMap((e) => [e.from, e.to]))].sort();
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];
  let counter = 0;
  // Iterative, so a long import chain cannot overflow the call stack.
  for (const start of nodes) {
    if (index.has(start)) continue;
    const work: { node: string; i: number }[] = [{ node: start, i: 0 }];
    index.set(start, counter);
    low.set(start, counter++);
    stack.push(start);
    onStack.add(start);
    while (work.length > 0) {
      const top = work[work.length - 1]!;
      const succ = next.get(top.node) ?? [];
      if (top.i < succ.length) {
        const w = succ[top.i++]!;
        if (!index.has(w)) {
          index.set(w, counter);
          low.set(w, counter++);
          stack.push(w);
          onStack.add(w);
          work.push({ node: w, i: 0 });
        } else if (onStack.has(w)) {
          low.set(top.node, Math.min(low.get(top.node)!, index.get(w)!));
        }
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent) low.set(parent.node, Math.min(low.get(parent.node)!, low.get(top.node)!));
      if (low.get(top.node) === index.get(top.node)) {
        const component: string[] = [];
        let w: string;
        do {
          w = stack.pop()!;
          onStack.delete(w);
          component.push(w);
        } while (w !== top.node);
        const selfLoop = component.length === 1 && (next.get(w) ?? []).includes(w);
        if (component.length > 1 || selfLoop) components.push(component.sort());
      }
    }
  }
  return components.sort((a, b) => a[0]!.localeCompare(b[0]!)).map((c) => shortestCycle(c, next));
}

/** The shortest path from the component's first file back to it, inside the component (breadth first). */
function shortestCycle(component: string[], next: Map<string, string[]>): string[] {
  const members = new Set(component);
  const start = component[0]!;
  const cameFrom = new Map<string, string>();
  const queue = [start];
  while (queue.length > 0) {
    const node = queue.shift()!;
    for (const w of next.get(node) ?? []) {
      if (!members.has(w)) continue;
      if (w === start) {
        const path = [start];
        for (let at = node; at !== start; at = cameFrom.get(at)!) path.splice(1, 0, at);
        return [...path, start];
      }
      if (!cameFrom.has(w)) {
        cameFrom.set(w, node);
        queue.push(w);
      }
    }
  }
  return [start, start];
}
