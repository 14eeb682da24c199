// Usage: node read-latest.mjs [environment]   (region from AWS_REGION)
import { DescribeImagesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { GetParameterCommand, ParameterNotFound, SSMClient } from '@aws-sdk/client-ssm';

const region = process.env.AWS_REGION ?? 'us-east-1';
const ssm = new SSMClient({ region });
const ec2 = new EC2Client({ region });

async function readParameter(name) {
  try {
    const { Parameter } = await ssm.send(new GetParameterCommand({ Name: name }));
    return Parameter.Value;
  } catch (error) {
    if (error instanceof ParameterNotFound) throw new Error(`${name} does not exist: no AMI has been published for this environment yet`);
    throw error;
  }
}

/** The current AMI id, its state, and the metadata of the build that made it. */
export async function latestAmi(environment) {
  const prefix = `/comfyui/ami/${environment}`;
  const amiId = await readParameter(`${prefix}/latest`);
  const { Images } = await ec2.send(new DescribeImagesCommand({ ImageIds: [amiId] }));
  const metadata = JSON.parse(await readParameter(`${prefix}/metadata`));
  return { amiId, state: Images[0].State, metadata };
}

const { amiId, state, metadata } = await latestAmi(process.argv[2] ?? 'prod');
console.log(amiId);
console.log(state);
console.log(JSON.stringify(metadata));
