import type { Context } from 'aws-lambda';
import { type Step, type StepKey, stepOfPlaceholder } from '../../functions/steps';

export type LambdaHandler = (event: unknown, context: Context) => Promise<unknown>;

/** The step of functions/steps.ts an ASL placeholder (`LaunchBuilderFunctionArn`) names; throws when none does. */
export function stepFor(placeholder: string): Step & { key: StepKey } {
  const step = stepOfPlaceholder(placeholder);
  if (!step) throw new Error(`\${${placeholder}} names no step of functions/steps.ts`);
  return step;
}

export async function loadStepHandler(placeholder: string): Promise<LambdaHandler> {
  return loadHandler(stepFor(placeholder).folder);
}

/** functions/<folder>/handler's `handler`: a step's, or a function outside the state machine's. */
export async function loadHandler(folder: string): Promise<LambdaHandler> {
  const mod = (await import(`../../functions/${folder}/handler`)) as { handler?: LambdaHandler };
  if (typeof mod.handler !== 'function') throw new Error(`functions/${folder}/handler exports no handler`);
  return mod.handler;
}
