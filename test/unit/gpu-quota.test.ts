import { DescribeInstanceTypesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { GetServiceQuotaCommand, ServiceQuotasClient } from '@aws-sdk/client-service-quotas';
import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { main as run } from '../../scripts/commands/run';
import { main as start } from '../../scripts/commands/start';
import { checkGpuQuota, defaultQuotaClients } from '../../scripts/lib/gpu-quota';
import { DEMO_CONFIG_PATH, demoConfig } from '../support/builds';

const quotas = mockClient(ServiceQuotasClient);
const ec2 = mockClient(EC2Client);
const sfn = mockClient(SFNClient);
const config = demoConfig();
const saved = { ...process.env };
let stderr: string[];

beforeEach(() => {
  quotas.reset();
  ec2.reset();
  sfn.reset();
  process.env.AWS_REGION = 'eu-west-1';
  process.env.AWS_ACCESS_KEY_ID = 'AKIDEXAMPLE';
  process.env.AWS_SECRET_ACCESS_KEY = 'secret';
  delete process.env.AWS_ENDPOINT_URL;
  ec2.on(DescribeInstanceTypesCommand).callsFake((input: { InstanceTypes: string[] }) => ({
    InstanceTypes: input.InstanceTypes.map((t) => ({ InstanceType: t, VCpuInfo: { DefaultVCpus: t.endsWith('.2xlarge') ? 8 : 4 } })),
  }));
  stderr = [];
  jest.spyOn(console, 'error').mockImplementation((line: string) => void stderr.push(String(line)));
  jest.spyOn(console, 'log').mockImplementation(() => undefined);
});
afterEach(() => {
  jest.restoreAllMocks();
  process.env = { ...saved };
});

function withType(instanceType: string, gpu = true) {
  return { ...config, environments: { ...config.environments, dev: { ...config.environments.dev, instanceType, gpu } } };
}

describe('the GPU quota pre-flight', () => {
  it('names the G and VT quota, its code and how to request more when it is 0', async () => {
    quotas.on(GetServiceQuotaCommand, { ServiceCode: 'ec2', QuotaCode: 'L-DB2E81BA' }).resolves({ Quota: { Value: 0 } });

    const verdict = await checkGpuQuota(withType('g4dn.xlarge'), 'dev', defaultQuotaClients());

    expect(verdict.status).toBe('short');
    expect(verdict.message).toContain('"Running On-Demand G and VT instances" (ec2 L-DB2E81BA) is 0 vCPUs in eu-west-1');
    expect(verdict.message).toContain('a g4dn.xlarge needs 4');
    expect(verdict.message).toContain('aws service-quotas request-service-quota-increase --service-code ec2 --quota-code L-DB2E81BA');
  });

  it("refuses a quota below the type's vCPUs, and passes one that fits", async () => {
    quotas.on(GetServiceQuotaCommand).resolves({ Quota: { Value: 4 } });

    expect((await checkGpuQuota(withType('g5.2xlarge'), 'dev', defaultQuotaClients())).status).toBe('short');
    expect((await checkGpuQuota(withType('g5.xlarge'), 'dev', defaultQuotaClients())).status).toBe('ok');
  });

  it('reads the P quota for a P instance type', async () => {
    quotas.on(GetServiceQuotaCommand).resolves({ Quota: { Value: 0 } });

    const verdict = await checkGpuQuota(withType('p3.2xlarge'), 'dev', defaultQuotaClients());

    expect(verdict.message).toContain('"Running On-Demand P instances" (ec2 L-417A185B)');
    expect(quotas.commandCalls(GetServiceQuotaCommand)[0].args[0].input).toEqual({ ServiceCode: 'ec2', QuotaCode: 'L-417A185B' });
  });

  it('checks nothing for an environment without a GPU or a type no GPU quota covers', async () => {
    expect((await checkGpuQuota(withType('g4dn.xlarge', false), 'dev', defaultQuotaClients())).status).toBe('ok');
    expect((await checkGpuQuota(withType('c7i.xlarge'), 'dev', defaultQuotaClients())).status).toBe('ok');
    expect(quotas.commandCalls(GetServiceQuotaCommand)).toHaveLength(0);
  });

  it('says it could not check when the quota cannot be read (no permission, an emulator), and lets the build go on', async () => {
    quotas.on(GetServiceQuotaCommand).rejects(Object.assign(new Error('not authorized'), { name: 'AccessDeniedException' }));

    const verdict = await checkGpuQuota(withType('g4dn.xlarge'), 'dev', defaultQuotaClients());

    expect(verdict).toEqual({ status: 'unknown', message: expect.stringContaining('AccessDeniedException: not authorized') });
  });

  it('makes run and start exit 2 before anything starts', async () => {
    quotas.on(GetServiceQuotaCommand).resolves({ Quota: { Value: 0 } });
    const machine = 'arn:aws:states:eu-west-1:123456789012:stateMachine:comfyui-ami-dev-bake-ami';

    expect(await run(['--env', 'dev', '--config', DEMO_CONFIG_PATH, '--fast'])).toBe(2);
    expect(await start(['--env', 'dev', '--config', DEMO_CONFIG_PATH, '--state-machine-arn', machine])).toBe(2);

    expect(stderr.filter((l) => l.includes('L-DB2E81BA'))).toHaveLength(2);
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(0);
    // Nothing but the quota and the instance type's vCPUs was asked of EC2.
    expect(ec2.calls().map((c) => c.args[0].constructor.name)).toEqual(['DescribeInstanceTypesCommand', 'DescribeInstanceTypesCommand']);
  });
});
