import { cancellable } from '../shared/cancellation';
import { stepHandler } from '../shared/handler';
import { dynamodbClient } from '../shared/sdk/dynamodb';
import { ec2Client } from '../shared/sdk/ec2';
import { createImage } from './create-image';

export const handler = stepHandler(cancellable('createImage', createImage), () => ({ ec2: ec2Client(), dynamodb: dynamodbClient() }));
