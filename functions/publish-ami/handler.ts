import { markPublishing } from '../shared/cancellation';
import { stepHandler } from '../shared/handler';
import { dynamodbClient } from '../shared/sdk/dynamodb';
import { ec2Client } from '../shared/sdk/ec2';
import { ssmClient } from '../shared/sdk/ssm';
import { publishAmi } from './publish-ami';

// The publish record before any parameter is written: a cancel either came first (BuildCancelled) or is refused.
export const handler = stepHandler(
  async (state: Parameters<typeof publishAmi>[0], ctx) => {
    return publishAmi(state, ctx, await markPublishing(state, ctx));
  },
  () => ({ ec2: ec2Client(), ssm: ssmClient(), dynamodb: dynamodbClient() }),
);
