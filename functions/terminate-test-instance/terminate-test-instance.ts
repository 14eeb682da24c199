import type { StepContext } from '../shared/handler';
import { findTestInstances, terminateInstances } from '../shared/ec2';
import type { BuildState, TestInstanceTerminated } from '../shared/state';

/**
 * Terminates this build's test instances once the check has passed, before publishing. Found
 * by the build id tag only: an instance id in the input that is not this build's is never touched.
 */
export async function terminateTestInstance(state: BuildState, { clients, logger }: StepContext): Promise<TestInstanceTerminated> {
  const mine = (await findTestInstances(clients.ec2, state.execution.buildId)).map((i) => i.InstanceId ?? '').filter(Boolean);
  const terminated = await terminateInstances(clients.ec2, mine);
  logger.info('test instance terminated', { terminated });
  return { terminated };
}
