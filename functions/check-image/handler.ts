import { cancellable } from '../shared/cancellation';
import { stepHandler } from '../shared/handler';
import { dynamodbClient } from '../shared/sdk/dynamodb';
import { ec2Client } from '../shared/sdk/ec2';
import { checkImage } from './check-image';

export const handler = stepHandler(cancellable(checkImage), () => ({ ec2: ec2Client(), dynamodb: dynamodbClient() }));
