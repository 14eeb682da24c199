import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { ECRClient } from '@aws-sdk/client-ecr';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SSMClient } from '@aws-sdk/client-ssm';

/** The AWS clients a step may use; logic receives them so tests can mock or redirect them. */
export interface Clients {
  ec2: EC2Client;
  ssm: SSMClient;
  /**
   * SSM without the SDK's own retries, for SendCommand: SSM cannot deduplicate it, so a resend
   * must go through the step's retry, which first looks for the command already sent.
   */
  ssmOnce: SSMClient;
  ecr: ECRClient;
  dynamodb: DynamoDBClient;
  sfn: SFNClient;
  /** The update command's output (its log group). */
  logs: CloudWatchLogsClient;
  /** Build events (announce-result). */
  events: EventBridgeClient;
}

let clients: Clients | undefined;

/**
 * One client per service per process, created on first use. They honour the standard SDK
 * configuration, AWS_ENDPOINT_URL included, which is how the emulator is reached.
 */
export function defaultClients(): Clients {
  clients ??= {
    ec2: new EC2Client({}),
    ssm: new SSMClient({}),
    ssmOnce: new SSMClient({ maxAttempts: 1 }),
    ecr: new ECRClient({}),
    dynamodb: new DynamoDBClient({}),
    sfn: new SFNClient({}),
    logs: new CloudWatchLogsClient({}),
    events: new EventBridgeClient({}),
  };
  return clients;
}

/** For the CLI and tests, which change the endpoint between runs in one process. */
export function resetDefaultClients(): void {
  clients = undefined;
}
