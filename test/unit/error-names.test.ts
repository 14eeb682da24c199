import { CONFIG_ENV_VAR, loadConfig, resetConfigCache } from '../../functions/shared/config';
import * as errors from '../../functions/shared/errors';
import { loadDefinition } from '../../scripts/lib/local-runner';
import { demoConfig } from '../support/builds';

/** Every error class's literal name, read from the errors module itself. */
const definedNames = new Set(
  (Object.values(errors) as unknown[])
    .filter(
      (value): value is new (detail: never) => Error => typeof value === 'function' && value.prototype instanceof errors.PipelineError,
    )
    // Invalid-input errors take their field as data; the others a message.
    .map((ErrorClass) => new ErrorClass({ field: 'x', allowed: 'y' } as never).name),
);

describe('error names shared by the code and the ASL', () => {
  const states = Object.values(loadDefinition().States);
  const named = states.flatMap((s) =>
    [
      ...((s.Retry as { ErrorEquals: string[] }[] | undefined) ?? []),
      ...((s.Catch as { ErrorEquals: string[] }[] | undefined) ?? []),
    ].flatMap((r) => r.ErrorEquals),
  );

  it('uses only names the errors module defines, besides States.* and Lambda.* and middy TimeoutError', () => {
    expect(definedNames).toEqual(expect.objectContaining({ size: expect.any(Number) }));
    expect([...definedNames]).toEqual(expect.arrayContaining(['AwsThrottled', 'UpdateCommandFailed', 'LatestNotConfirmed']));
    const foreign = named.filter(
      (n) => !n.startsWith('States.') && !n.startsWith('Lambda.') && n !== 'TimeoutError' && !definedNames.has(n),
    );
    expect(foreign).toEqual([]);
  });

  it('retries every transient error on every Task, and never a validation error', () => {
    for (const state of states.filter((s) => s.Type === 'Task')) {
      const retried = ((state.Retry as { ErrorEquals: string[] }[]) ?? []).flatMap((r) => r.ErrorEquals);
      expect(retried).toEqual(expect.arrayContaining([...errors.TRANSIENT_ERRORS]));
      expect(retried).not.toEqual(expect.arrayContaining(['RequestInvalid']));
      expect(retried).not.toEqual(expect.arrayContaining(['ConfigInvalid']));
    }
  });
});

describe('loadConfig', () => {
  afterEach(() => {
    delete process.env.BUILDER_SECURITY_GROUP_ID;
    resetConfigCache();
  });

  it('uses the stack security group when the config names none', () => {
    process.env[CONFIG_ENV_VAR] = JSON.stringify(demoConfig());
    process.env.BUILDER_SECURITY_GROUP_ID = 'sg-0123456789abcdef0';
    resetConfigCache();
    expect(loadConfig().builder.securityGroupIds).toEqual(['sg-0123456789abcdef0']);
  });

  it('keeps the security groups the config names', () => {
    process.env[CONFIG_ENV_VAR] = JSON.stringify(
      demoConfig({ builder: { ...demoConfig().builder, securityGroupIds: ['sg-0aaaaaaaaaaaaaaaa'] } }),
    );
    process.env.BUILDER_SECURITY_GROUP_ID = 'sg-0123456789abcdef0';
    resetConfigCache();
    expect(loadConfig().builder.securityGroupIds).toEqual(['sg-0aaaaaaaaaaaaaaaa']);
  });
});
