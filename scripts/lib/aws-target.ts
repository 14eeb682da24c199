import { SFNClient } from '@aws-sdk/client-sfn';

/** No AWS region or no credentials: a command that would build stops before it starts anything (exit 2). */
export class AwsTargetMissing extends Error {
  override readonly name = 'AwsTargetMissing';
}

const NO_ACCOUNT = 'to try it without an AWS account: npm run demo';

/** The region and credentials the SDK would use, resolved as it resolves them; throws AwsTargetMissing naming how to set them. */
export async function checkAwsTarget(): Promise<void> {
  const client = new SFNClient({});
  try {
    let region: string | undefined;
    try {
      region = await client.config.region();
    } catch {
      region = undefined;
    }
    if (!region) {
      throw new AwsTargetMissing(
        `no AWS region: set AWS_REGION (e.g. export AWS_REGION=eu-west-1) or a region in your AWS profile; ${NO_ACCOUNT}`,
      );
    }
    try {
      await client.config.credentials();
    } catch (error) {
      throw new AwsTargetMissing(
        'no AWS credentials: set AWS_PROFILE (after aws configure or aws sso login), or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, ' +
          `or point AWS_ENDPOINT_URL at an emulator with any keys; ${NO_ACCOUNT} (${(error as Error).message})`,
      );
    }
  } finally {
    client.destroy();
  }
}

interface SdkError extends Error {
  $metadata?: { httpStatusCode?: number };
  $response?: { statusCode?: number; headers?: Record<string, string> };
}

/**
 * An endpoint that answers an API call with a web page (an emulator that lacks the API answers
 * HTTP 500 with HTML) makes the SDK report a JSON parser error: say what happened instead.
 */
export function readableServiceError(error: unknown, action?: string): unknown {
  const e = error as SdkError;
  const contentType = e?.$response?.headers?.['content-type'] ?? '';
  const html = /text\/html/i.test(contentType) || (e?.name === 'SyntaxError' && /Deserialization error/.test(e.message));
  if (!html) return error;
  const status = e.$response?.statusCode ?? e.$metadata?.httpStatusCode;
  const endpoint = process.env.AWS_ENDPOINT_URL ? `the endpoint ${process.env.AWS_ENDPOINT_URL}` : 'the AWS endpoint';
  const what = action ?? 'this call';
  const readable = new Error(
    `${endpoint} answered ${what} with an HTML page${status ? ` (HTTP ${status})` : ''}, not an AWS API response: ` +
      `it does not implement ${what} (an emulator such as moto lacks some APIs, RedriveExecution among them)`,
  );
  readable.name = 'ApiNotSupported';
  return readable;
}
