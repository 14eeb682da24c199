import { readFileSync } from 'node:fs';
import path from 'node:path';
import { runSimulation } from '@cloud-copilot/iam-simulate';

/**
 * The reader policy's document as serverless.yml writes it (CloudFormation form, `Fn::Sub`
 * placeholders included). test/template/reader-policy.test.ts checks that the packaged template
 * holds exactly this; the integration test attaches it, resolved, to a user in moto.
 */
export const READER_POLICY_FILE = path.join(__dirname, '..', 'fixtures', 'reader-policy.json');

export interface PolicyStatement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Action: string | string[];
  Resource: unknown;
}

export interface PolicyDocument {
  Version: string;
  Statement: PolicyStatement[];
}

export function readerPolicyTemplate(): PolicyDocument {
  return JSON.parse(readFileSync(READER_POLICY_FILE, 'utf8')) as PolicyDocument;
}

export interface Pseudo {
  partition: string;
  region: string;
  accountId: string;
}

export const MOTO_ACCOUNT: Pseudo = { partition: 'aws', region: 'us-east-1', accountId: '123456789012' };

/** The document as IAM stores it once CloudFormation has filled in its pseudo parameters. */
export function resolvePolicy(document: unknown, pseudo: Pseudo): unknown {
  if (Array.isArray(document)) return document.map((d) => resolvePolicy(d, pseudo));
  if (document === null || typeof document !== 'object') return document;
  const record = document as Record<string, unknown>;
  if (Object.keys(record).length === 1 && typeof record['Fn::Sub'] === 'string') {
    const values: Record<string, string> = {
      'AWS::Partition': pseudo.partition,
      'AWS::Region': pseudo.region,
      'AWS::AccountId': pseudo.accountId,
    };
    return record['Fn::Sub'].replace(/\$\{([^}]+)\}/g, (whole, name: string) => {
      if (!(name in values)) throw new Error(`cannot resolve ${whole} in the reader policy`);
      return values[name];
    });
  }
  return Object.fromEntries(Object.entries(record).map(([key, value]) => [key, resolvePolicy(value, pseudo)]));
}

export type Decision = 'Allowed' | 'ExplicitlyDenied' | 'ImplicitlyDenied';

/** AWS's decision for one request by a principal whose only policy is `document` (iam-simulate). */
export async function decide(document: unknown, action: string, resource: string, accountId = MOTO_ACCOUNT.accountId): Promise<Decision> {
  const response = await runSimulation(
    {
      identityPolicies: [{ name: 'reader', policy: document }],
      serviceControlPolicies: [],
      resourceControlPolicies: [],
      request: {
        action,
        principal: `arn:aws:iam::${accountId}:user/reader`,
        resource: { accountId, resource },
        contextVariables: {},
      },
    },
    {},
  );
  if (response.resultType === 'error') throw new Error(`iam-simulate refused ${action} on ${resource}: ${JSON.stringify(response.errors)}`);
  return response.overallResult as Decision;
}
