import { Logger } from '@aws-lambda-powertools/logger';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { ECRClient } from '@aws-sdk/client-ecr';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SSMClient } from '@aws-sdk/client-ssm';
import type { StepContext } from '../../functions/shared/handler';
import type { BuildState } from '../../functions/shared/state';
import { demoConfig } from './builds';

/** A step context with fresh clients (for aws-sdk-client-mock) and the demo config. */
export function stepContext(overrides: Partial<StepContext['config']> = {}): StepContext {
  return {
    config: demoConfig(overrides),
    clients: {
      ec2: new EC2Client({ region: 'us-east-1' }),
      ssm: new SSMClient({ region: 'us-east-1' }),
      ssmOnce: new SSMClient({ region: 'us-east-1', maxAttempts: 1 }),
      ecr: new ECRClient({ region: 'us-east-1' }),
      dynamodb: new DynamoDBClient({ region: 'us-east-1' }),
      sfn: new SFNClient({ region: 'us-east-1' }),
      logs: new CloudWatchLogsClient({ region: 'us-east-1' }),
      events: new EventBridgeClient({ region: 'us-east-1' }),
    },
    logger: new Logger({ logLevel: 'SILENT' }),
  };
}

export const DIGEST = `sha256:${'ab'.repeat(32)}`;

/** The state as it stands after Create the AMI, for steps further down. */
export function stateAfterImage(overrides: Partial<BuildState> = {}): BuildState {
  return {
    execution: {
      name: 'dev-exec-1',
      id: 'arn:aws:states:us-east-1:123456789012:execution:bake-ami:dev-exec-1',
      startTime: '2026-11-27T12:00:00Z',
      buildId: '0b6f8a52-3c1e-4d7a-9f00-5a1c2e3d4b6f',
    },
    request: {
      environment: 'dev',
      repository: 'comfyui',
      imageUri: `123456789012.dkr.ecr.us-east-1.amazonaws.com/comfyui@${DIGEST}`,
      digest: DIGEST,
      tag: 'dev-latest',
      branch: 'main',
      commitSha: 'abc1234',
      source: 'console',
      requestedAt: '2026-11-27T12:00:00Z',
      requestedBy: 'console (principal not recorded; CloudTrail StartExecution names it)',
    },
    base: {
      mode: 'incremental',
      baseAmiId: 'ami-00000000000000001',
      previousAmiId: 'ami-00000000000000001',
      buildNumber: 7,
      amiName: 'comfyui-multitenant-dev-0007-abababababab',
    },
    builder: { instanceId: 'i-0123456789abcdef0' },
    update: { commandId: 'cmd-1', documentName: 'ComfyUIAmi-Update' },
    image: { amiId: 'ami-00000000000000002', name: 'comfyui-multitenant-dev-0007-abababababab' },
    ...overrides,
  };
}

/** The tags that make a resource the build of `stateAfterImage()`: pipeline, environment, build id. */
export function buildTags(state: BuildState = stateAfterImage(), overrides: Record<string, string> = {}): { Key: string; Value: string }[] {
  const tags: Record<string, string> = {
    'comfyui-ami:managed-by': 'comfyui-ami-pipeline',
    'comfyui-ami:environment': state.request?.environment ?? 'dev',
    'comfyui-ami:build-id': state.execution.buildId,
    'comfyui-ami:execution': state.execution.name,
    ...overrides,
  };
  return Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
}

/** Another build of the same environment, with the same execution name (Step Functions reuses names). */
export const OTHER_BUILD_ID = '9d1c7e4a-2b3f-4c5d-8e6f-7a8b9c0d1e2f';
