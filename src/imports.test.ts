/**
 * The runtime import graph: every module the `vaultsync` command can load, following static imports
 * and literal `import()` calls from src/cli.ts and src/main.ts. It must have no cycle (a cycle makes
 * a module see another's exports before they are initialised) and must not reach the doc generators
 * in src/gen/ or any test support.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const SRC = dirname(fileURLToPath(import.meta.url));

/** Relative specifiers of the imports that load a module at run time (`import type` is erased). */
export function runtimeImports(fileName: string, text: string): string[] {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    if (
      ts.isImportDeclaration(node) &&
      node.importClause?.phaseModifier !== ts.SyntaxKind.TypeKeyword &&
      ts.isStringLiteral(node.moduleSpecifier)
    ) {
      found.push(node.moduleSpecifier.text);
    } else if (
      ts.isExportDeclaration(node) &&
      !node.isTypeOnly &&
      node.moduleSpecifier !== undefined &&
      ts.isStringLiteral(node.moduleSpecifier)
    ) {
      found.push(node.moduleSpecifier.text);
    } else if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0] !== undefined &&
      ts.isStringLiteralLike(node.arguments[0])
    ) {
      found.push(node.arguments[0].text);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found.filter((s) => s.startsWith('.'));
}

/** Module (path relative to src/) -> the modules it imports, for everything reachable from `entries`. */
export function importGraph(entries: readonly string[], read: (path: string) => string): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  const pending = [...entries];
  for (let path = pending.pop(); path !== undefined; path = pending.pop()) {
    if (graph.has(path)) continue;
    const targets = runtimeImports(path, read(path)).map((spec) => join(dirname(path), spec).replace(/\.js$/, '.ts'));
    graph.set(path, targets);
    pending.push(...targets);
  }
  return graph;
}

/** One cycle as a path that starts and ends at the same module, or undefined when there is none. */
export function findCycle(graph: ReadonlyMap<string, readonly string[]>): string[] | undefined {
  const done = new Set<string>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const visit = (node: string): string[] | undefined => {
    if (onStack.has(node)) return [...stack.slice(stack.indexOf(node)), node];
    if (done.has(node)) return undefined;
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node) ?? []) {
      const cycle = visit(next);
      if (cycle) return cycle;
    }
    stack.pop();
    onStack.delete(node);
    done.add(node);
    return undefined;
  };
  for (const node of graph.keys()) {
    const cycle = visit(node);
    if (cycle) return cycle;
  }
  return undefined;
}

/** Where a forbidden module is reached from: entry -> ... -> module. */
function pathTo(graph: ReadonlyMap<string, readonly string[]>, from: string, to: string): string[] {
  const parent = new Map<string, string>([[from, from]]);
  const queue = [from];
  for (let node = queue.shift(); node !== undefined; node = queue.shift()) {
    if (node === to) break;
    for (const next of graph.get(node) ?? []) {
      if (parent.has(next)) continue;
      parent.set(next, node);
      queue.push(next);
    }
  }
  const path = [to];
  while (path[0] !== from) path.unshift(parent.get(path[0]!)!);
  return path;
}

const isGenerator = (path: string) => path.startsWith('gen/');
const isTestSupport = (path: string) => path.endsWith('.test.ts') || path.split('/').includes('testing');

describe('runtime import graph', () => {
  const entries = ['cli.ts', 'main.ts'];
  const graph = importGraph(entries, (path) => readFileSync(join(SRC, path), 'utf8'));

  it('reaches the controller, the trigger and the KMS plugin', () => {
    expect([...graph.keys()]).toEqual(
      expect.arrayContaining(['config.ts', 'api/index.ts', 'controller/index.ts', 'trigger/index.ts', 'kms/index.ts']),
    );
    expect(graph.size).toBeGreaterThan(50);
  });

  it('has no import cycle', () => {
    expect(findCycle(graph)?.join(' -> ')).toBeUndefined();
  });

  it('loads no doc generator and no test support', () => {
    const forbidden = [...graph.keys()].filter((p) => isGenerator(p) || isTestSupport(p));
    expect(forbidden.map((p) => pathTo(graph, 'cli.ts', p).join(' -> '))).toEqual([]);
  });
});

describe('the import graph checks themselves', () => {
  const files: Record<string, string> = {
    'config.ts': "import { parseDuration } from './api/index.js';\nimport type { X } from './types.js';",
    'api/index.ts': "export * from './schema.js';\nexport { generatedFiles } from '../gen/index.js';",
    'api/schema.ts': "export type { Y } from '../types.js';",
    'gen/index.ts': "import { runOptions } from '../config.js';\nconst later = () => import('./late.js');",
    'gen/late.ts': '',
  };
  const graph = importGraph(['config.ts'], (path) => files[path] ?? '');

  it('follows imports, re-exports and import() but not type-only imports', () => {
    expect(Object.fromEntries(graph)).toEqual({
      'config.ts': ['api/index.ts'],
      'api/index.ts': ['api/schema.ts', 'gen/index.ts'],
      'api/schema.ts': [],
      'gen/index.ts': ['config.ts', 'gen/late.ts'],
      'gen/late.ts': [],
    });
  });

  it('finds the cycle config.ts -> api -> gen -> config.ts and the path to a generator', () => {
    expect(findCycle(graph)).toEqual(['config.ts', 'api/index.ts', 'gen/index.ts', 'config.ts']);
    expect(pathTo(graph, 'config.ts', 'gen/late.ts')).toEqual([
      'config.ts',
      'api/index.ts',
      'gen/index.ts',
      'gen/late.ts',
    ]);
  });
});
