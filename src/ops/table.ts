/**
 * The op table of docs/ops.md, generated from the registry: one row per registered op with its place,
 * its other roles, its NAFlow inverse (the rule's `inverseRule`) and whether it has an ONNX form for the
 * one-graph native path. `tools/op-table.ts` writes it; a test fails when the file is stale.
 */
import { getOpRule, supportedOps, type OpRule } from './registry.js';

/** The rule's roles in words: its place, then weight layer / rectifier / gate / probabilities. */
function roleText(rule: OpRule): string {
  const r = rule.roles ?? {};
  const words: string[] = [r.place ?? 'trunk'];
  if (r.weightInput !== undefined) words.push('weight layer');
  if (r.rectifier) words.push('rectifier');
  if (r.gate) words.push('gate');
  if (r.probabilities) words.push('probabilities');
  return words.join(', ');
}

const HEADER = `# Supported ops and their NAFlow rules

<!-- Generated from the op registry (src/ops/): do not edit. Regenerate with
     npx tsc -p tsconfig.json && node dist/tools/op-table.js -->

Every op rule (one file per op family under \`src/ops/\`) holds the forward pass, the vector–Jacobian
product, shape inference, its roles and — for ops that can sit in a CNN trunk — the linearisation (JVP)
and the NAFlow inverse. An op of any other type gives an error naming the op and the node
(\`naflow inspect\` lists them all at once).

Roles: **trunk** ops are inverted by the cascade; **head** ops may sit between the trunk's last spatial
tensor and the scores; **layout** ops move values without changing them (the trunk-end search and the
gate pass look through them). A **weight layer** is redrawn by the randomisation sanity check; a
**rectifier** gets guided backprop's and deconvnet's rule; a **gate**'s output, multiplied into another
tensor, is held at its forward value by the Mul inverse; a final **probabilities** op is skipped: the
explained score is its input. **ONNX form**: the op runs inside reference mode's single onnxruntime graph.
`;

/** The whole of docs/ops.md. */
export function opTable(): string {
  const rows = supportedOps().map((op) => {
    const rule = getOpRule(op)!;
    return `| ${op} | ${roleText(rule)} | ${rule.inverseRule} | ${rule.onnx ? '✓' : ''} |`;
  });
  return [HEADER, '| op | role | NAFlow inverse | ONNX form |', '|---|---|---|---|', ...rows, ''].join('\n');
}
