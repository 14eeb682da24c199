import type { Context } from 'aws-lambda';

export type LambdaHandler = (event: unknown, context: Context) => Promise<unknown>;

/** `LaunchBuilderFunctionArn` -> `launch-builder`: the ASL placeholder names the step's folder. */
export function stepFolder(placeholder: string): string {
  const base = placeholder.replace(/FunctionArn$/, '');
  return base.replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase();
}

/** Steps that clean up get longer; serverless.yml sets the same timeouts (a template test checks). */
export function stepTimeoutSeconds(placeholder: string): number {
  return ['CleanUpFunctionArn', 'RollBackFunctionArn'].includes(placeholder) ? 120 : 60;
}

export async function loadStepHandler(placeholder: string): Promise<LambdaHandler> {
  const mod = (await import(`../../functions/${stepFolder(placeholder)}/handler`)) as { handler?: LambdaHandler };
  if (typeof mod.handler !== 'function') throw new Error(`functions/${stepFolder(placeholder)}/handler exports no handler`);
  return mod.handler;
}
