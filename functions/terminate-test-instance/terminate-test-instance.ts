import { findBuildInstances, identityOf } from '../shared/build-identity';
import { terminateInstances } from '../shared/ec2';
import type { StepContext } from '../shared/handler';
import type { BuildState, TestInstanceTerminated } from '../shared/state';
import { VERIFIER_ROLE } from '../shared/tags';

/**
 * Terminates this build's test instances once the check has passed, before publishing. Found
 * by the build id tag only: an instance id in the input that is not this build's is never touched.
 */
export async function terminateTestInstance(state: BuildState, { clients, logger }: StepContext<'ec2'>): Promise<TestInstanceTerminated> {
  const mine = (await findBuildInstances(clients.ec2, identityOf(state), [VERIFIER_ROLE])).map((i) => i.InstanceId ?? '').filter(Boolean);
  const terminated = await terminateInstances(clients.ec2, mine);
  logger.info('test instance terminated', { terminated });
  return { terminated };
}
