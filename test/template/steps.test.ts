/**
 * The ASL and functions/steps.ts agree: every Task runs a declared step, carries that step's
 * Retry (its own retriers, then the one shared transient policy) and ends before its function.
 * The stack side (functions, roles, substitutions) is in stack.test.ts.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { arnPlaceholder, retryOf, STEPS, type Step, TRANSIENT_RETRY } from '../../functions/steps';
import { type AslDefinition, loadDefinition } from '../../scripts/lib/local-runner';
import { ROOT } from './support/template';

const TOKEN_WAIT = 'arn:aws:states:::lambda:invoke.waitForTaskToken';

/** What differs between the ASL's Tasks and the table, one line each; empty when they agree. */
function drift(definition: AslDefinition): string[] {
  const problems: string[] = [];
  const byState = new Map<string, [string, Step]>();
  for (const [key, step] of Object.entries(STEPS) as [string, Step][]) for (const name of step.states) byState.set(name, [key, step]);
  const tasks = Object.entries(definition.States).filter(([, s]) => s.Type === 'Task');
  for (const [name, task] of tasks) {
    const found = byState.get(name);
    if (!found) {
      problems.push(`"${name}" is a Task no step of functions/steps.ts lists in its states`);
      continue;
    }
    const [key, step] = found;
    const placeholder = `\${${arnPlaceholder(key)}}`;
    const invoked = step.tokenWaitSeconds
      ? task.Resource === TOKEN_WAIT && (task.Parameters as { FunctionName?: string } | undefined)?.FunctionName === placeholder
      : task.Resource === placeholder;
    if (!invoked)
      problems.push(
        step.tokenWaitSeconds
          ? `"${name}": expected Resource ${TOKEN_WAIT} with FunctionName ${placeholder}`
          : `"${name}": Resource ${task.Resource}, expected ${placeholder}`,
      );
    if (JSON.stringify(task.Retry) !== JSON.stringify(retryOf(step)))
      problems.push(`"${name}": Retry differs from ${key}'s retry followed by TRANSIENT_RETRY`);
    const timeout = task.TimeoutSeconds as number | undefined;
    if (step.tokenWaitSeconds) {
      if (timeout !== step.tokenWaitSeconds)
        problems.push(`"${name}": TimeoutSeconds ${timeout}, expected ${key}'s pause of ${step.tokenWaitSeconds} s`);
    } else if (typeof timeout !== 'number' || timeout >= step.timeoutSeconds)
      problems.push(`"${name}": TimeoutSeconds ${timeout} is not below ${key}'s ${step.timeoutSeconds} s`);
  }
  const taskNames = new Set(tasks.map(([name]) => name));
  for (const name of byState.keys())
    if (!taskNames.has(name)) problems.push(`"${name}" is listed in functions/steps.ts but is no Task of the ASL`);
  return problems;
}

describe('functions/steps.ts and the ASL', () => {
  const definition = loadDefinition();

  it('agree on every Task: its step, its Retry and its timeout', () => {
    expect(drift(definition)).toEqual([]);
  });

  it('end every Task with the one shared transient policy, which retries the Lambda service errors and a timeout', () => {
    for (const [name, task] of Object.entries(definition.States).filter(([, s]) => s.Type === 'Task')) {
      expect([name, task.Retry?.at(-1)]).toEqual([name, TRANSIENT_RETRY]);
    }
    expect(TRANSIENT_RETRY.ErrorEquals).toEqual(
      expect.arrayContaining([
        'Lambda.ServiceException',
        'Lambda.AWSLambdaException',
        'Lambda.SdkClientException',
        'Lambda.TooManyRequestsException',
        'States.Timeout',
      ]),
    );
  });

  it('name an existing handler for every step', () => {
    for (const step of Object.values(STEPS)) {
      expect([step.folder, existsSync(path.join(ROOT, 'functions', step.folder, 'handler.ts'))]).toEqual([step.folder, true]);
    }
  });

  it('report, in their own check, a Task whose Retry, Resource or timeout drifted, and a state missing on either side', () => {
    const changed = structuredClone(definition);
    Object.assign(changed.States['Stop the builder'], { Retry: [{ ...TRANSIENT_RETRY, MaxAttempts: 3 }], TimeoutSeconds: 60 });
    changed.States['Check the AMI'].Resource = '${CheckImageFnArn}';
    changed.States['Check the AMI again'] = { ...changed.States['Check the AMI'] };
    delete changed.States['Clean up'];
    expect(drift(changed).sort()).toEqual(
      [
        `"Stop the builder": Retry differs from stopBuilder's retry followed by TRANSIENT_RETRY`,
        `"Stop the builder": TimeoutSeconds 60 is not below stopBuilder's 60 s`,
        '"Check the AMI": Resource ${CheckImageFnArn}, expected ${CheckImageFunctionArn}',
        '"Check the AMI again" is a Task no step of functions/steps.ts lists in its states',
        '"Clean up" is listed in functions/steps.ts but is no Task of the ASL',
      ].sort(),
    );
  });
});
