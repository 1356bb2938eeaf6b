/**
 * The code-size rule (issue 14): no source file over 500 lines, no function over 100 lines. Parsed with
 * the TypeScript compiler API (syntax only, no type checking), so a scan of the whole tree is fast.
 */
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

export const MAX_FILE_LINES = 500;
export const MAX_FUNCTION_LINES = 100;

/** One breach of the rule: the file, the 1-based line where it starts, what it is and its length. */
export interface SizeViolation {
  file: string;
  line: number;
  /** 'file', or the function's kind and name, e.g. "function lsmrIn", "method JobQueue.dispatch", "arrow" */
  what: string;
  lines: number;
}

/** Lines in a text, as `wc -l` counts them for a file ending with a newline. */
export function lineCount(text: string): number {
  if (!text.length) return 0;
  const breaks = text.split('\n').length - 1;
  return text.endsWith('\n') ? breaks : breaks + 1;
}

/** The function's kind and, where it has one, its name (with the class for methods). */
function describe(node: ts.FunctionLikeDeclaration, src: ts.SourceFile): string {
  const kind =
    ts.isFunctionDeclaration(node) || ts.isFunctionExpression(node)
      ? 'function'
      : ts.isArrowFunction(node)
        ? 'arrow'
        : ts.isConstructorDeclaration(node)
          ? 'constructor'
          : ts.isGetAccessor(node) || ts.isSetAccessor(node)
            ? 'accessor'
            : 'method';
  let name = node.name?.getText(src);
  // an anonymous function takes the name of the variable or property it is assigned to
  if (!name && (ts.isVariableDeclaration(node.parent) || ts.isPropertyAssignment(node.parent) || ts.isPropertyDeclaration(node.parent)))
    name = node.parent.name.getText(src);
  const owner = ts.isClassLike(node.parent) && node.parent.name ? `${node.parent.name.text}.` : '';
  return name ? `${kind} ${owner}${name}` : kind;
}

/**
 * The breaches in one source text: the file over `maxFileLines`, and (when `checkFunctions`) every
 * function with a body (declaration, method, constructor, accessor, arrow, function expression) whose
 * span, first line to last, is over `maxFunctionLines`. Nested functions are checked on their own too.
 */
export function scanSource(file: string, text: string, opts: { checkFunctions: boolean; maxFileLines?: number; maxFunctionLines?: number }): SizeViolation[] {
  const maxFile = opts.maxFileLines ?? MAX_FILE_LINES;
  const maxFunction = opts.maxFunctionLines ?? MAX_FUNCTION_LINES;
  const out: SizeViolation[] = [];
  const fileLines = lineCount(text);
  if (fileLines > maxFile) out.push({ file, line: 1, what: 'file', lines: fileLines });
  if (!opts.checkFunctions) return out;
  const src = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body) {
      const first = src.getLineAndCharacterOfPosition(node.getStart(src)).line;
      const last = src.getLineAndCharacterOfPosition(node.getEnd()).line;
      const lines = last - first + 1;
      if (lines > maxFunction) out.push({ file, line: first + 1, what: describe(node as ts.FunctionLikeDeclaration, src), lines });
    }
    ts.forEachChild(node, visit);
  };
  visit(src);
  return out;
}

/** Every .ts file under `dir` (relative to `root`, with / separators), skipping node_modules. */
export function tsFilesUnder(root: string, dir: string, skip: readonly string[] = []): string[] {
  const files: string[] = [];
  const walk = (rel: string): void => {
    for (const entry of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
      const child = `${rel}/${entry.name}`;
      if (entry.isDirectory()) {
        if (entry.name !== 'node_modules' && !skip.includes(child)) walk(child);
      } else if (entry.isFile() && entry.name.endsWith('.ts')) files.push(child);
    }
  };
  if (fs.existsSync(path.join(root, dir))) walk(dir);
  return files.sort();
}

export const formatViolation = (v: SizeViolation): string =>
  `${v.file}:${v.line} ${v.what}: ${v.lines} lines (limit ${v.what === 'file' ? MAX_FILE_LINES : MAX_FUNCTION_LINES})`;
