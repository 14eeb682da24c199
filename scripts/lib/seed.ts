import { createHash } from 'node:crypto';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateImageCommand, DescribeImagesCommand, EC2Client, RunInstancesCommand, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import { CreateRepositoryCommand, ECRClient, PutImageCommand, RepositoryAlreadyExistsException } from '@aws-sdk/client-ecr';
import { AddRoleToInstanceProfileCommand, CreateInstanceProfileCommand, CreateRoleCommand, IAMClient } from '@aws-sdk/client-iam';
import { PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import type { PipelineConfig } from '../../functions/shared/config';

/** The lock table as the stack makes it: one item per environment, keyed by its name. */
export async function createLockTable(config: PipelineConfig): Promise<void> {
  await new DynamoDBClient({}).send(
    new CreateTableCommand({
      TableName: config.lock.table,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: 'environment', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'environment', KeyType: 'HASH' }],
    }),
  );
}

/**
 * What a real account has before the first build, made in the emulator: the builder's instance
 * profile, an Ubuntu 22.04 base image behind an SSM parameter, an ECR repository, and the lock
 * table the stack would create.
 */
export async function seedAccount(config: PipelineConfig): Promise<{ baseAmiId: string }> {
  const ec2 = new EC2Client({});
  const iam = new IAMClient({});
  const ssm = new SSMClient({});
  const ecr = new ECRClient({});

  const role = 'comfyui-ami-builder-role';
  await iam.send(
    new CreateRoleCommand({
      RoleName: role,
      AssumeRolePolicyDocument: JSON.stringify({
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' }],
      }),
    }),
  );
  await iam.send(new CreateInstanceProfileCommand({ InstanceProfileName: config.builder.instanceProfile }));
  await iam.send(new AddRoleToInstanceProfileCommand({ InstanceProfileName: config.builder.instanceProfile, RoleName: role }));

  // Stand-in for Canonical's image: moto ships no Ubuntu 22.04.
  const stock = await ec2.send(new DescribeImagesCommand({ Owners: ['amazon'] }));
  const seedFrom = stock.Images?.find((i) => i.RootDeviceType === 'ebs')?.ImageId ?? stock.Images?.[0]?.ImageId;
  const run = await ec2.send(new RunInstancesCommand({ ImageId: seedFrom, MinCount: 1, MaxCount: 1, InstanceType: 't3.micro' }));
  const instanceId = run.Instances?.[0]?.InstanceId ?? '';
  const image = await ec2.send(
    new CreateImageCommand({ InstanceId: instanceId, Name: 'ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-amd64-server-20261120' }),
  );
  await ec2.send(new TerminateInstancesCommand({ InstanceIds: [instanceId] }));
  const baseAmiId = image.ImageId ?? '';
  if ('parameter' in config.baseImage) {
    await ssm.send(new PutParameterCommand({ Name: config.baseImage.parameter, Value: baseAmiId, Type: 'String', Overwrite: true }));
  }

  await createLockTable(config);

  for (const repositoryName of config.repositories) {
    try {
      await ecr.send(new CreateRepositoryCommand({ repositoryName }));
    } catch (error) {
      if (!(error instanceof RepositoryAlreadyExistsException)) throw error;
    }
  }
  return { baseAmiId };
}

/** Pushes a (tiny, made-up) image manifest under a tag; returns its digest. */
export async function pushImage(repositoryName: string, tag: string, content: string): Promise<string> {
  const ecr = new ECRClient({});
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
    config: {
      mediaType: 'application/vnd.docker.container.image.v1+json',
      size: content.length,
      digest: `sha256:${createHash('sha256').update(content).digest('hex')}`,
    },
    layers: [],
  });
  const digest = `sha256:${createHash('sha256').update(manifest).digest('hex')}`;
  await ecr.send(new PutImageCommand({ repositoryName, imageManifest: manifest, imageTag: tag, imageDigest: digest }));
  return digest;
}

/** An EventBridge "ECR Image Action" push event, as the rule delivers it. */
export function ecrPushEvent(repository: string, tag: string, digest: string, time = new Date().toISOString()): Record<string, unknown> {
  return {
    version: '0',
    id: `push-${digest.slice(7, 19)}`,
    'detail-type': 'ECR Image Action',
    source: 'aws.ecr',
    account: '123456789012',
    time,
    region: process.env.AWS_REGION ?? 'us-east-1',
    resources: [],
    detail: { result: 'SUCCESS', 'repository-name': repository, 'image-digest': digest, 'action-type': 'PUSH', 'image-tag': tag },
  };
}
