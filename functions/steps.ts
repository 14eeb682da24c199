/**
 * Every step of the state machine, declared once: the stack (serverless.yml through
 * scripts/serverless/steps.cjs), the local runner (scripts/lib/handlers.ts) and the tests read it.
 *
 * Adding a step:
 *   1. functions/<folder>/handler.ts exporting `handler` (logic in a module beside it);
 *   2. an entry below, keyed by the function's name in serverless.yml;
 *   3. its Task state in statemachine/bake-ami.asl.json: `"Resource": "${<Key>FunctionArn}"`
 *      (Key = the entry's key with a capital first letter), TimeoutSeconds below `timeoutSeconds`,
 *      `"Retry"` = the entry's `retry` followed by TRANSIENT_RETRY, and the Catch to the roll back;
 *   4. its role under `functions:` in serverless.yml, granting exactly `calls`.
 * test/template/steps.test.ts and stack.test.ts fail until the four agree.
 */
import { EVENT_WAIT_FALLBACK_SECONDS } from './shared/config-values';

/** One Retry entry of the ASL. */
export interface Retrier {
  ErrorEquals: string[];
  IntervalSeconds: number;
  MaxAttempts: number;
  BackoffRate: number;
  MaxDelaySeconds: number;
  JitterStrategy: 'FULL';
}

/**
 * The last Retry entry of every Task: the Lambda service's transient errors, a Task or middy
 * timeout, and the AWS faults the steps name transient (functions/shared/errors.ts TRANSIENT_ERRORS).
 */
export const TRANSIENT_RETRY: Retrier = {
  ErrorEquals: [
    'Lambda.ServiceException',
    'Lambda.AWSLambdaException',
    'Lambda.SdkClientException',
    'Lambda.TooManyRequestsException',
    'States.Timeout',
    'TimeoutError',
    'AwsThrottled',
    'AwsUnavailable',
  ],
  IntervalSeconds: 2,
  MaxAttempts: 6,
  BackoffRate: 2,
  MaxDelaySeconds: 60,
  JitterStrategy: 'FULL',
};

/** Retry nothing: placed first, it keeps a later retrier (TRANSIENT_RETRY) from matching these errors. */
export interface NoRetry {
  ErrorEquals: string[];
  MaxAttempts: 0;
}

export interface Step {
  /** The Task states of the ASL that invoke this function. */
  states: readonly string[];
  /** functions/<folder>/handler.ts */
  folder: string;
  description: string;
  /** The Lambda's timeout; each of its Tasks' TimeoutSeconds is below it. */
  timeoutSeconds: number;
  /** The AWS calls its bundle makes, as IAM actions: what its role in serverless.yml grants. */
  calls: readonly string[];
  /** Retries of named pipeline errors, tried before TRANSIENT_RETRY. */
  retry?: readonly (Retrier | NoRetry)[];
  /**
   * Its Tasks pause on a task token (`arn:aws:states:::lambda:invoke.waitForTaskToken`, the function
   * in Parameters.FunctionName) for this many seconds; their TimeoutSeconds is the pause, not the
   * function's run, and ends in a fallback check.
   */
  tokenWaitSeconds?: number;
}

/** A registering SSM agent: minutes, not seconds. */
const agentRetry = (error: string): Retrier => ({
  ErrorEquals: [error],
  IntervalSeconds: 15,
  MaxAttempts: 12,
  BackoffRate: 1.5,
  MaxDelaySeconds: 60,
  JitterStrategy: 'FULL',
});

/** Both launches go through functions/shared/launch.ts, both sends through shared/run-command.ts. */
const LAUNCH_CALLS = ['ec2:DescribeImages', 'ec2:DescribeInstances', 'ec2:RunInstances'];
const SEND_COMMAND_CALLS = ['ec2:DescribeInstances', 'ssm:ListCommands', 'ssm:SendCommand'];
/** What removing this build's instances, AMIs and snapshots takes (functions/shared/ec2.ts). */
const REMOVE_CALLS = [
  'ec2:DeleteSnapshot',
  'ec2:DeregisterImage',
  'ec2:DescribeImages',
  'ec2:DescribeInstances',
  'ec2:DescribeSnapshots',
  'ec2:TerminateInstances',
];
/** Fast snapshot restore stopped on an AMI before it goes (functions/shared/fast-snapshot-restore.ts). */
const FAST_RESTORE_OFF_CALLS = ['ec2:DescribeFastSnapshotRestores', 'ec2:DisableFastSnapshotRestores'];

export const STEPS = {
  normalizeRequest: {
    states: ['Normalize the request'],
    folder: 'normalize-request',
    description: 'Validates a build request and pins its image to an ECR digest.',
    timeoutSeconds: 60,
    calls: ['dynamodb:GetItem', 'ecr:DescribeImages', 'ecr:DescribeRepositories', 'ssm:GetParameter', 'ssm:GetParametersByPath'],
  },
  acquireLock: {
    states: ['Acquire the environment lock'],
    folder: 'acquire-lock',
    description: "Takes the environment's build lock, or says to wait, or that a newer request wins.",
    timeoutSeconds: 60,
    calls: ['dynamodb:GetItem', 'dynamodb:UpdateItem', 'states:DescribeExecution'],
  },
  releaseLock: {
    states: ['Release the lock after failure'],
    folder: 'release-lock',
    description: "Frees the environment's build lock after a failed build if this execution holds it.",
    timeoutSeconds: 60,
    calls: ['dynamodb:UpdateItem'],
  },
  resolveBaseAmi: {
    states: ['Resolve the base AMI'],
    folder: 'resolve-base-ami',
    description: 'Chooses the base AMI (incremental, migration or fresh) and the build number.',
    timeoutSeconds: 60,
    calls: ['ec2:DescribeImages', 'ssm:GetParameter', 'ssm:GetParameters'],
  },
  prepareRollback: {
    states: ['Prepare the rollback'],
    folder: 'prepare-rollback',
    description: 'Under the lock, re-points a rollback to its retained AMI or resolves the base for rebuilding its digest.',
    timeoutSeconds: 60,
    calls: ['ec2:DescribeImages', 'ecr:DescribeImages', 'ssm:GetParameter', 'ssm:GetParameters'],
  },
  launchBuilder: {
    states: ['Launch the builder instance'],
    folder: 'launch-builder',
    description: 'Launches the tagged builder instance from the base AMI.',
    timeoutSeconds: 60,
    calls: [...LAUNCH_CALLS, 'dynamodb:UpdateItem'],
  },
  sendUpdateCommand: {
    states: ['Send the update command'],
    folder: 'send-update-command',
    description: 'Runs the fresh-install or update document on the builder.',
    timeoutSeconds: 60,
    calls: SEND_COMMAND_CALLS,
    retry: [agentRetry('AgentNotRegistered')],
  },
  checkUpdateCommand: {
    states: ['Check the update'],
    folder: 'check-update-command',
    description: 'Polls the update command; fails with the tail of its output.',
    timeoutSeconds: 60,
    calls: ['ec2:DescribeInstances', 'logs:DescribeLogStreams', 'logs:FilterLogEvents', 'logs:GetLogEvents', 'ssm:GetCommandInvocation'],
  },
  stopBuilder: {
    states: ['Stop the builder'],
    folder: 'stop-builder',
    description: 'Stops the builder and reports whether it has stopped.',
    timeoutSeconds: 60,
    calls: ['ec2:DescribeInstances', 'ec2:StopInstances'],
  },
  createImage: {
    states: ['Create the AMI'],
    folder: 'create-image',
    description: 'Creates the AMI from the stopped builder (once per execution), tagging it and its snapshots.',
    timeoutSeconds: 60,
    calls: ['dynamodb:UpdateItem', 'ec2:CreateImage', 'ec2:DescribeImages', 'ec2:DescribeInstances'],
  },
  awaitEvent: {
    states: ['Wait for the update', 'Wait for the builder to stop', 'Wait for the AMI', 'Wait for the health check'],
    folder: 'await-event',
    description:
      "Registers a paused wait (task token) for the update command, the builder's stop, the AMI or the health check, and wakes it at once if that has already ended.",
    timeoutSeconds: 60,
    calls: [
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'ec2:DescribeImages',
      'ec2:DescribeInstances',
      'ssm:GetCommandInvocation',
      'states:SendTaskSuccess',
    ],
    // A pause that outlives its timeout means a lost event: the Task's Catch runs one check instead.
    retry: [{ ErrorEquals: ['States.Timeout'], MaxAttempts: 0 }],
    tokenWaitSeconds: EVENT_WAIT_FALLBACK_SECONDS,
  },
  announceResult: {
    states: ['Announce the success', 'Announce the failure', 'Announce the superseded request'],
    folder: 'announce-result',
    description: "Puts the build's end on EventBridge (source comfyui.ami) and writes its metrics (EMF).",
    timeoutSeconds: 60,
    calls: ['dynamodb:UpdateItem', 'events:PutEvents', 'states:GetExecutionHistory'],
  },
  checkImage: {
    states: ['Check the AMI'],
    folder: 'check-image',
    description: 'Polls the AMI; marks it IMDSv2-only once available.',
    timeoutSeconds: 60,
    calls: ['ec2:DescribeImages', 'ec2:ModifyImageAttribute'],
  },
  launchTestInstance: {
    states: ['Launch the test instance'],
    folder: 'launch-test-instance',
    description: 'Boots a tagged test instance from the new AMI before it is published.',
    timeoutSeconds: 60,
    calls: [...LAUNCH_CALLS, 'dynamodb:UpdateItem'],
  },
  sendHealthCheck: {
    states: ['Send the health check'],
    folder: 'send-health-check',
    description: 'Runs the health-check document on the test instance.',
    timeoutSeconds: 60,
    calls: SEND_COMMAND_CALLS,
    retry: [agentRetry('TestInstanceAgentNotReady')],
  },
  checkHealthCheck: {
    states: ['Check the health check'],
    folder: 'check-health-check',
    description: 'Polls the health check; fails with the tail of its output.',
    timeoutSeconds: 60,
    calls: ['ssm:GetCommandInvocation'],
  },
  publishAmi: {
    states: ['Publish the AMI'],
    folder: 'publish-ami',
    description: 'Writes history, metadata and latest under the parameter prefix.',
    timeoutSeconds: 60,
    calls: [
      'dynamodb:UpdateItem',
      'ec2:DescribeImages',
      'ec2:DescribeSnapshots',
      'ec2:EnableFastSnapshotRestores',
      'ssm:GetParameter',
      'ssm:PutParameter',
    ],
    // PutParameter of an aws:ec2:image value is validated asynchronously: read back until it holds.
    retry: [
      {
        ErrorEquals: ['LatestNotConfirmed'],
        IntervalSeconds: 5,
        MaxAttempts: 6,
        BackoffRate: 2,
        MaxDelaySeconds: 60,
        JitterStrategy: 'FULL',
      },
    ],
  },
  cleanUp: {
    states: ['Clean up'],
    folder: 'clean-up',
    description:
      "Terminates the build's instances (builder and test instance), removes the previous AMI, prunes history, releases the lock.",
    timeoutSeconds: 120,
    calls: [
      ...REMOVE_CALLS,
      ...FAST_RESTORE_OFF_CALLS,
      'dynamodb:UpdateItem',
      'ssm:DeleteParameters',
      'ssm:GetParameter',
      'ssm:GetParametersByPath',
    ],
    // A release a transient fault kept from happening: the whole step again, as often as a transient
    // fault of any step (then the ASL lets it pass, as the Release state's catch did).
    retry: [
      {
        ErrorEquals: ['LockNotReleased'],
        IntervalSeconds: 2,
        MaxAttempts: 6,
        BackoffRate: 2,
        MaxDelaySeconds: 60,
        JitterStrategy: 'FULL',
      },
    ],
  },
  rollBack: {
    states: ['Roll back the build'],
    folder: 'roll-back',
    description: 'Undoes a failed build; restores any parameter it wrote.',
    timeoutSeconds: 120,
    calls: [
      ...REMOVE_CALLS,
      ...FAST_RESTORE_OFF_CALLS,
      'ssm:DeleteParameter',
      'ssm:GetParameter',
      'ssm:GetParameterHistory',
      'ssm:PutParameter',
    ],
    // Whatever it fails to undo is left behind: it outlasts an AWS throttle longer than the others.
    retry: [
      {
        ErrorEquals: ['AwsThrottled', 'AwsUnavailable'],
        IntervalSeconds: 5,
        MaxAttempts: 10,
        BackoffRate: 2,
        MaxDelaySeconds: 120,
        JitterStrategy: 'FULL',
      },
    ],
  },
} as const satisfies Record<string, Step>;

export type StepKey = keyof typeof STEPS;

const upperFirst = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);

/** `launchBuilder` -> `LaunchBuilderFunctionArn`: the ASL's placeholder, filled by DefinitionSubstitutions. */
export const arnPlaceholder = (key: string): string => `${upperFirst(key)}FunctionArn`;

/** `launchBuilder` -> `LaunchBuilderLambdaFunction`: the framework's logical id of the function. */
export const functionLogicalId = (key: string): string => `${upperFirst(key)}LambdaFunction`;

/** The step a placeholder (`LaunchBuilderFunctionArn`) names, or undefined. */
export function stepOfPlaceholder(placeholder: string): (Step & { key: StepKey }) | undefined {
  const key = (Object.keys(STEPS) as StepKey[]).find((k) => arnPlaceholder(k) === placeholder);
  return key ? { key, ...STEPS[key] } : undefined;
}

/** The Retry every Task of this step carries in the ASL, in order. */
export const retryOf = (step: Step): (Retrier | NoRetry)[] => [...(step.retry ?? []), TRANSIENT_RETRY];
