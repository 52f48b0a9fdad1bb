import { globSync, readFileSync } from 'node:fs';
import { stripTypeScriptTypes } from 'node:module';
import { parse } from 'acorn';
import { checkSync, type Diagnostics } from 'recheck';
import { describe, expect, it } from 'vitest';

// Guards a whole class of bug (security review C1): no regular expression in Herald's source may
// backtrack super-linearly. One that did (the stream head reader's) let a 3.2 KB request freeze a
// replica for 7 s. recheck decides each pattern (automata theory, or fuzzing where that is too
// costly); this finds the patterns by parsing each file, so none is missed for its spelling.

const SOURCES = [
  'apps/*/src/**/*.ts',
  'apps/*/src/**/*.js',
  'apps/api/public/*.js',
  'apps/cli/bin/**/*.ts',
  'apps/cli/bin/**/*.js',
  'packages/*/src/**/*.ts',
  'packages/*/src/**/*.js',
];

/**
 * Patterns recheck flags whose input is bounded by construction, `file:line` → why. Each must
 * say what bounds its input: the cost of a super-linear pattern is harmless only on short input.
 */
const BOUNDED: Readonly<Record<string, string>> = {};

/**
 * `RegExp(…)` calls built from text known only at run time, `file:line` → what they run on and
 * why that is bounded (recheck cannot see them; they were checked by reading).
 */
const BUILT_AT_RUN_TIME: Readonly<Record<string, string>> = {
  'apps/api/src/routes/page-routes.ts:15':
    "`<style>([\\s\\S]*?)</style>` (the tag is only 'style'): one lazy quantifier before a literal, linear; it runs once, on the page's own index.html, shipped with Herald",
};

interface FoundPattern {
  /** `file:line` */
  readonly where: string;
  readonly source: string;
  readonly flags: string;
}

interface Node {
  readonly type: string;
  readonly loc?: { readonly start: { readonly line: number } };
  readonly [key: string]: unknown;
}

const isNode = (value: unknown): value is Node => typeof value === 'object' && value !== null && typeof (value as Node).type === 'string';

/**
 * A string known without running the code: a literal, or a template whose substitutions are
 * names of the file's string constants (`constants`).
 */
function literalText(node: unknown, constants: ReadonlyMap<string, string>): string | null {
  if (!isNode(node)) return null;
  if (node.type === 'Literal' && typeof node.value === 'string') return node.value;
  if (node.type === 'Identifier') return constants.get(node.name as string) ?? null;
  if (node.type !== 'TemplateLiteral') return null;
  const quasis = node.quasis as { value: { cooked: string } }[];
  const parts = (node.expressions as unknown[]).map((expression) => literalText(expression, constants));
  if (parts.some((part) => part === null)) return null;
  return quasis.map((quasi, i) => quasi.value.cooked + (parts[i] ?? '')).join('');
}

/** `const NAME = 'text'` (or a template of such), for names declared once in the file. */
function stringConstants(program: Node): Map<string, string> {
  const constants = new Map<string, string>();
  const declared = new Set<string>();
  const visit = (node: Node): void => {
    if (node.type === 'VariableDeclarator' && isNode(node.id) && node.id.type === 'Identifier') {
      const name = node.id.name as string;
      const text = literalText(node.init, constants);
      if (declared.has(name) || text === null) constants.delete(name);
      else constants.set(name, text);
      declared.add(name);
    }
    for (const value of Object.values(node)) {
      if (Array.isArray(value)) for (const item of value) isNode(item) && visit(item);
      else if (isNode(value)) visit(value);
    }
  };
  visit(program);
  return constants;
}

/** Every regular expression in a file: literals, and `RegExp(…)` / `new RegExp(…)` calls. */
function patternsIn(file: string): { found: FoundPattern[]; unreadable: string[] } {
  const text = readFileSync(file, 'utf8');
  // 'strip' blanks the types out in place, so lines stay where they were.
  const code = file.endsWith('.ts') ? stripTypeScriptTypes(text, { mode: 'strip' }) : text;
  const program = parse(code.replace(/^#!.*/, ''), { ecmaVersion: 'latest', sourceType: 'module', locations: true });
  const constants = stringConstants(program as unknown as Node);
  const found: FoundPattern[] = [];
  const unreadable: string[] = [];
  const visit = (node: Node): void => {
    const where = `${file}:${node.loc?.start.line}`;
    const regex = node.regex as { pattern: string; flags: string } | undefined;
    if (node.type === 'Literal' && regex) found.push({ where, source: regex.pattern, flags: regex.flags });
    const callee = node.callee as Node | undefined;
    if ((node.type === 'NewExpression' || node.type === 'CallExpression') && callee?.type === 'Identifier' && callee.name === 'RegExp') {
      const [pattern, flags] = node.arguments as unknown[];
      const source = literalText(pattern, constants);
      const flagText = flags === undefined ? '' : literalText(flags, constants);
      if (source === null || flagText === null) unreadable.push(where);
      else found.push({ where, source, flags: flagText });
    }
    for (const value of Object.values(node)) {
      if (Array.isArray(value)) for (const item of value) isNode(item) && visit(item);
      else if (isNode(value)) visit(value);
    }
  };
  visit(program as unknown as Node);
  return { found, unreadable };
}

describe('regular expressions in the source', () => {
  const files = SOURCES.flatMap((pattern) => globSync(pattern)).sort();
  const scanned = files.map(patternsIn);
  const patterns = scanned.flatMap(({ found }) => found);

  it('are all found, and none is built from text only known at run time but the listed ones', () => {
    // Not vacuous: the tree has dozens, among them the stream head reader's.
    expect(files.length).toBeGreaterThan(50);
    expect(patterns.length).toBeGreaterThan(30);
    expect(patterns.some(({ where }) => where.startsWith('apps/api/src/http/bare/simple-head.ts:'))).toBe(true);
    expect(scanned.flatMap(({ unreadable }) => unreadable).filter((where) => !(where in BUILT_AT_RUN_TIME))).toEqual([]);
  });

  it('none can backtrack super-linearly (recheck), but for the listed exceptions with bounded input', () => {
    // One at a time: recheck's fuzzing works within time budgets of its own, which parallel
    // checks on two busy cores would eat into. Each pattern takes up to ~2 s (bounded repeats
    // such as {1,512} are fuzzed); the generous timeout only keeps a loaded machine from
    // reporting a pattern as undecided.
    const findings: string[] = [];
    const diagnoses = new Map<string, Diagnostics>(); // a pattern used twice is checked once
    for (const { where, source, flags } of patterns) {
      const key = `/${source}/${flags}`;
      const diagnosis = diagnoses.get(key) ?? checkSync(source, flags, { timeout: 60_000 });
      diagnoses.set(key, diagnosis);
      if (diagnosis.status === 'safe') continue;
      const why =
        diagnosis.status === 'vulnerable'
          ? `${diagnosis.complexity.type}, e.g. ${JSON.stringify(diagnosis.attack.string.slice(0, 60))}`
          : `undecided: ${diagnosis.error.kind}`;
      if (!(where in BOUNDED)) findings.push(`${where} /${source}/${flags}: ${why}`);
    }
    console.info(`[redos] ${diagnoses.size} distinct patterns (${patterns.length} in all) in ${files.length} files`);
    expect(findings).toEqual([]);
  }, 300_000);
});
