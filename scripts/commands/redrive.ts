import { RedriveExecutionCommand, SFNClient } from '@aws-sdk/client-sfn';
import { readableServiceError } from '../lib/aws-target';
import { executionCommand } from '../lib/command';
import { CLI, failure, STACK_OPTIONS, STACK_USAGE } from '../lib/stack';

export const USAGE = `usage: ${CLI} redrive <execution-name|execution-arn> [stack]

Resumes a failed, aborted or timed-out build from the step that failed, with the same input and
ARN (Step Functions RedriveExecution, within 14 days); the steps that succeeded are not rerun.
It helps when the build stopped mid-way (aborted, timed out, or a roll back or lock release that
did not finish). A build that was refused, or failed and was rolled back, only fails again: start
a new one instead (${CLI} status <execution> says which).

${STACK_USAGE}

Examples:
  ${CLI} redrive dev-3f1c6a0e9b8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b --stack comfyui-ami-dev
  ${CLI} redrive arn:aws:states:eu-west-1:123456789012:execution:comfyui-ami-dev-bake-ami:dev-build-1`;

export const OPTIONS = STACK_OPTIONS;

export const main = executionCommand({
  usage: USAGE,
  options: OPTIONS,
  run: async (_values, executionArn) => {
    try {
      const out = await new SFNClient({}).send(new RedriveExecutionCommand({ executionArn }));
      console.log(executionArn);
      console.error(`redriven at ${out.redriveDate?.toISOString() ?? 'now'}; follow it: ${CLI} watch ${executionArn}`);
      return 0;
    } catch (error) {
      const name = (error as Error).name;
      if (name === 'ExecutionNotRedrivable')
        return failure(
          error,
          `${CLI} status ${executionArn} (only failed, aborted or timed-out builds of the last 14 days can be redriven)`,
        );
      if (name === 'ExecutionDoesNotExist') return failure(error, 'check the name or ARN');
      return failure(readableServiceError(error, 'RedriveExecution'));
    }
  },
});
