import { stepHandler } from '../shared/handler';
import { dynamodbClient } from '../shared/sdk/dynamodb';
import { ec2Client } from '../shared/sdk/ec2';
import { ssmClient } from '../shared/sdk/ssm';
import { cleanUpAndRelease } from './clean-up';

export const handler = stepHandler(cleanUpAndRelease, () => ({ ec2: ec2Client(), ssm: ssmClient(), dynamodb: dynamodbClient() }));
