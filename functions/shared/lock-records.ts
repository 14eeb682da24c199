import { type AttributeValue, ConditionalCheckFailedException, DeleteItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';

/**
 * The lock table holds, besides each environment's lock, records under prefixed keys no
 * environment can have (request:, wait:, cancel:, result:). What their modules share.
 */

/**
 * The table's TTL attribute (serverless.yml LockTable): the wait registrations and the cancel
 * records carry it and go by themselves. Its name is the one the table was first deployed with.
 */
export const RECORD_TTL_ATTRIBUTE = 'wait_expires_at';

/** The TTL value of a record that has to outlive any execution (16 hours) by a margin. */
export function recordExpiry(now = new Date(), days = 2): string {
  return String(Math.floor(now.getTime() / 1000) + days * 24 * 3600);
}

/**
 * A build's own record (cancel, publish and step marks) outlives the 14 days in which Step
 * Functions can redrive the execution: a redriven step must still find its earlier attempt's mark.
 */
export const BUILD_RECORD_DAYS = 15;

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
