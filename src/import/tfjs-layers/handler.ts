/**
 * The shape of a Keras layer handler: it emits the nodes of one layer call into the call's Chain and
 * returns the output tensor (undefined: naflow cannot express it; the layer is kept as an unknown node).
 */
import type { Shape } from '../../ir/graph.js';
import type { Chain } from './chain.js';
import type { LayersImporter } from './importer.js';
import type { KerasLayer, LayerConfig } from './model-json.js';

export interface LayerCallContext {
  im: LayersImporter;
  c: Chain;
  layer: KerasLayer;
  cls: string;
  cfg: LayerConfig;
  /** prefix of nested-model layer names */
  prefix: string;
  inputs: string[];
  /** the first input, its static shape and rank */
  x: string;
  xs: Shape | undefined;
  rank: number | undefined;
}

export type LayerHandler = (L: LayerCallContext) => string | undefined;
export type LayerHandlerTable = Readonly<Record<string, LayerHandler>>;
