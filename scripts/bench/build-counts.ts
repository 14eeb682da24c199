/**
 * Per build against the moto server: the AWS API calls the steps send (polls apart), the state
 * transitions and the Lambda invocations, for a fresh and then an incremental build of one
 * environment, with the real ASL and the real step handlers (scripts/lib/local-runner.ts).
 */
import { join } from 'node:path';
import { resetDefaultClients } from '../../functions/shared/clients';
import { CONFIG_ENV_VAR, readConfigFile, resetConfigCache } from '../../functions/shared/config';
import { startMoto } from '../../test/support/moto';
import { type LambdaHandler, loadStepHandler } from '../lib/handlers';
import { loadDefinition, placeholderOf, runStateMachine } from '../lib/local-runner';
import { useEndpoint } from '../lib/moto';
import { pythonTools } from '../lib/python-tools';
import { ecrPushEvent, pushImage, seedAccount } from '../lib/seed';
import { startCountingProxy } from './counting-proxy';
import { isPoll } from './polls';

export interface BuildCounts {
  build: 'fresh' | 'incremental';
  mode: string | null;
  /** AWS API calls the steps sent, polls excluded. */
  apiCalls: number;
  /** AWS API calls of Task invocations reached through a Wait state. */
  pollCalls: number;
  stateTransitions: number;
  lambdaInvocations: number;
}

const ENVIRONMENT = 'dev';

export async function measureBuildCounts(): Promise<BuildCounts[]> {
  const config = readConfigFile(join(__dirname, '..', '..', 'config', 'demo.json'));
  const definition = loadDefinition();
  const moto = await startMoto(pythonTools().python);
  const proxy = await startCountingProxy(moto.endpoint);
  try {
    useEndpoint(proxy.endpoint);
    resetDefaultClients();
    await seedAccount(config);
    process.env[CONFIG_ENV_VAR] = JSON.stringify(config);
    resetConfigCache();

    // Every Task's real handler, wrapped so each API call is labelled with its state and kind.
    let previousTask: string | null = null;
    let invocations = 0;
    const handlers: Record<string, LambdaHandler> = {};
    for (const [name, state] of Object.entries(definition.States)) {
      // A wait for an event names its function in Parameters.FunctionName: it counts too.
      const placeholder = placeholderOf(state);
      if (state.Type !== 'Task' || !placeholder) continue;
      const real = await loadStepHandler(placeholder);
      handlers[name] = async (event, context) => {
        const poll = isPoll(definition, previousTask, name);
        previousTask = name;
        invocations += 1;
        proxy.setLabel(poll ? `poll:${name}` : name);
        try {
          return await real(event, context);
        } finally {
          proxy.setLabel(null);
        }
      };
    }

    const results: BuildCounts[] = [];
    for (const [index, build] of (['fresh', 'incremental'] as const).entries()) {
      const digest = await pushImage(config.repositories[0], `${ENVIRONMENT}-latest`, `comfyui build ${index + 1}`);
      const input = ecrPushEvent(config.repositories[0], `${ENVIRONMENT}-latest`, digest);
      const before = proxy.calls.length;
      previousTask = null;
      invocations = 0;
      // moto settles every resource at once, so each wait that is entered is answered by its own
      // look; with no local events the receiver's calls (one invocation per event on AWS, outside
      // the build's Tasks) cannot fall, unlabelled by timing, into a Task's count.
      const run = await runStateMachine(input, { executionName: `bench-${build}`, waitMs: 0, retryMs: 0, handlers, events: 'lost' });
      if (run.status !== 'SUCCEEDED') throw new Error(`the ${build} build failed: ${run.error}: ${run.cause}`);
      const calls = proxy.calls.slice(before).filter((c) => c.label !== null);
      const polls = calls.filter((c) => c.label?.startsWith('poll:')).length;
      results.push({
        build,
        mode: (run.output?.mode as string | undefined) ?? null,
        apiCalls: calls.length - polls,
        pollCalls: polls,
        stateTransitions: run.transitions,
        lambdaInvocations: invocations,
      });
    }
    return results;
  } finally {
    await proxy.stop();
    await moto.stop();
  }
}
