/** TF element-wise arithmetic → naflow Add / Sub / Mul / Div; Minimum/Maximum with a constant → Clip. */
import { CLIP_INF } from '../tfjs-common.js';
import { firstInput, type TfGraphHandler, type TfGraphHandlerTable } from './handler.js';
import { broadcast } from './values.js';

const ARITHMETIC: Record<string, string> = { BiasAdd: 'Add', Add: 'Add', AddV2: 'Add', Sub: 'Sub', Mul: 'Mul', RealDiv: 'Div', Div: 'Div' };

const binary: TfGraphHandler = (g, n, ins) => {
  if (ins.length !== 2) return false;
  const op = ARITHMETIC[n.op];
  let [a, c] = ins;
  // naflow's rules take the activation first in commutative ops
  if ((op === 'Add' || op === 'Mul') && a.kind === 'const' && c.kind === 'act') [a, c] = [c, a];
  g.final(n, op, [g.constRef(a), g.constRef(c)], {}, broadcast(g.shape(a), g.shape(c)));
  return true;
};

const addN: TfGraphHandler = (g, n, ins) => {
  const { xs } = firstInput(g, ins);
  let acc = g.constRef(ins[0]);
  for (let k = 1; k < ins.length; k++) {
    const last = k === ins.length - 1;
    const args = [acc, g.constRef(ins[k])];
    acc = last ? g.final(n, 'Add', args, {}, xs) : g.step(n, `add${k}`, 'Add', args, {}, xs);
  }
  if (ins.length === 1) g.final(n, 'Identity', [acc], {}, xs);
  return true;
};

/** Minimum/Maximum of an activation and a uniform constant: a one-sided Clip. */
const clipByConstant: TfGraphHandler = (g, n, ins) => {
  const [a, c] = ins;
  const act = a.kind === 'act' ? a : c;
  const cst = a.kind === 'act' ? c : a;
  if (act.kind !== 'act' || cst.kind !== 'const') return false;
  const v = Array.from(g.consts.get(cst.name)!.dataSync() as ArrayLike<number>);
  if (v.length === 0 || v.some((e) => e !== v[0])) return false;
  const cs = g.shape(cst)!;
  const as = g.shape(act);
  if (as && cs.length > as.length) return false;
  const attrs = n.op === 'Minimum' ? { min: -CLIP_INF, max: v[0] } : { min: v[0], max: CLIP_INF };
  g.final(n, 'Clip', [act.name], attrs, as);
  return true;
};

export const ELEMENTWISE_HANDLERS: TfGraphHandlerTable = {
  BiasAdd: binary,
  Add: binary,
  AddV2: binary,
  Sub: binary,
  Mul: binary,
  RealDiv: binary,
  Div: binary,
  AddN: addN,
  Minimum: clipByConstant,
  Maximum: clipByConstant,
};
