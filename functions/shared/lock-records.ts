import { type AttributeValue, ConditionalCheckFailedException, DeleteItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';

/**
 * The lock table holds, besides each environment's lock, records under prefixed keys no
 * environment can have (request:, wait:, cancel:, result:). What their modules share.
 */

/** A conditional write lost: the condition said no. */
export function isConditionFailure(error: unknown): boolean {
  return error instanceof ConditionalCheckFailedException || (error as Error).name === 'ConditionalCheckFailedException';
}

/** Deletes a record only while `attribute` still holds `value` (a newer writer keeps its own); otherwise does nothing. */
export async function deleteRecordWhile(
  dynamodb: DynamoDBClient,
  table: string,
  key: Record<string, AttributeValue>,
  attribute: string,
  value: string,
): Promise<void> {
  try {
    await dynamodb.send(
      new DeleteItemCommand({
        TableName: table,
        Key: key,
        ConditionExpression: '#held = :value',
        ExpressionAttributeNames: { '#held': attribute },
        ExpressionAttributeValues: { ':value': { S: value } },
      }),
    );
  } catch (error) {
    if (!isConditionFailure(error)) throw error;
  }
}
