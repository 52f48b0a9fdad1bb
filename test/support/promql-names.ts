/**
 * The metric names a PromQL expression reads, by a token scanner (no regex over the expression):
 * identifiers outside label matchers `{…}`, ranges `[…]`, strings and `by (…)`-style label lists,
 * that are neither a function or aggregation (followed by `(`) nor a keyword.
 */
const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'atan2', 'inf', 'nan']);
const LABEL_LISTS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);

const isIdentStart = (c: string) => (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c === '_' || c === ':';
const isIdentPart = (c: string) => isIdentStart(c) || (c >= '0' && c <= '9');
const isSpace = (c: string) => c === ' ' || c === '\n' || c === '\t' || c === '\r';

/** The index just past the bracket closing the one at `open` (strings inside skipped). */
function skipBracketed(expr: string, open: number, close: string): number {
  let i = open + 1;
  while (i < expr.length && expr[i] !== close) {
    const c = expr[i]!;
    i = c === '"' || c === "'" || c === '`' ? skipString(expr, i) : i + 1;
  }
  return i + 1;
}

function skipString(expr: string, open: number): number {
  const quote = expr[open]!;
  let i = open + 1;
  while (i < expr.length && expr[i] !== quote) i += expr[i] === '\\' && quote !== '`' ? 2 : 1;
  return i + 1;
}

/** Whether `by (…)` or `without (…)` starts at `at`: the word before it is an aggregation (`sum by (le) (…)`). */
function aggregatesBy(expr: string, at: number): boolean {
  let end = at;
  while (end < expr.length && isIdentPart(expr[end]!)) end++;
  const word = expr.slice(at, end);
  return word === 'by' || word === 'without';
}

export function metricNames(expr: string): string[] {
  const names: string[] = [];
  let i = 0;
  while (i < expr.length) {
    const c = expr[i]!;
    if (c === '{') i = skipBracketed(expr, i, '}');
    else if (c === '[') i = skipBracketed(expr, i, ']');
    else if (c === '"' || c === "'" || c === '`') i = skipString(expr, i);
    else if (c >= '0' && c <= '9') {
      // A number or a duration (0.99, 1e3, 5m): its letters are not a name.
      while (i < expr.length && (isIdentPart(expr[i]!) || expr[i] === '.')) i++;
    } else if (isIdentStart(c)) {
      const start = i;
      while (i < expr.length && isIdentPart(expr[i]!)) i++;
      const word = expr.slice(start, i);
      let next = i;
      while (next < expr.length && isSpace(expr[next]!)) next++;
      if (LABEL_LISTS.has(word)) {
        if (expr[next] === '(') i = skipBracketed(expr, next, ')');
      } else if (expr[next] !== '(' && !aggregatesBy(expr, next) && !KEYWORDS.has(word.toLowerCase())) names.push(word);
    } else i++;
  }
  return names;
}
