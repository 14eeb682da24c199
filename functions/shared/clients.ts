import type { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { EC2Client } from '@aws-sdk/client-ec2';
import type { ECRClient } from '@aws-sdk/client-ecr';
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { SFNClient } from '@aws-sdk/client-sfn';
import type { SSMClient } from '@aws-sdk/client-ssm';
import { resetClientCache } from './sdk/cache';
import { dynamodbClient } from './sdk/dynamodb';
import { ec2Client } from './sdk/ec2';
import { ecrClient } from './sdk/ecr';
import { eventsClient } from './sdk/events';
import { logsClient } from './sdk/logs';
import { sfnClient } from './sdk/sfn';
import { ssmClient, ssmOnceClient } from './sdk/ssm';

/** The AWS clients a step may use; logic receives them so tests can mock or redirect them. */
export interface Clients {
  ec2: EC2Client;
  ssm: SSMClient;
  /** SSM without the SDK's own retries, for SendCommand (sdk/ssm.ts says why). */
  ssmOnce: SSMClient;
  ecr: ECRClient;
  dynamodb: DynamoDBClient;
  sfn: SFNClient;
  /** The update command's output (its log group). */
  logs: CloudWatchLogsClient;
  /** Build events (announce-result). */
  events: EventBridgeClient;
}

/**
 * Every client, for the CLI and tests. A Lambda never imports this module: its handler names
 * the clients its step uses (functions/shared/sdk/), so its bundle holds only those.
 */
export function defaultClients(): Clients {
  return {
    ec2: ec2Client(),
    ssm: ssmClient(),
    ssmOnce: ssmOnceClient(),
    ecr: ecrClient(),
    dynamodb: dynamodbClient(),
    sfn: sfnClient(),
    logs: logsClient(),
    events: eventsClient(),
  };
}

/** For the CLI and tests, which change the endpoint between runs in one process. */
export function resetDefaultClients(): void {
  resetClientCache();
}
