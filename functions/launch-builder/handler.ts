import { cancellable } from '../shared/cancellation';
import { stepHandler } from '../shared/handler';
import { dynamodbClient } from '../shared/sdk/dynamodb';
import { ec2Client } from '../shared/sdk/ec2';
import { launchBuilder } from './launch-builder';

export const handler = stepHandler(cancellable('launchBuilder', launchBuilder), () => ({ ec2: ec2Client(), dynamodb: dynamodbClient() }));
