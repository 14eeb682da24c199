/** The real ASL against moto, failing each of the steps from Create the AMI on before and after its work. */
import { type Moto, startMoto } from '../support/moto';
import { itLeavesTheAccountAsItWas, taskStates } from '../support/step-failures';

let moto: Moto;
beforeAll(async () => {
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
  moto = await startMoto();
});
afterAll(async () => moto?.stop());

describe('a build failing at the steps from Create the AMI on', () => {
  itLeavesTheAccountAsItWas(taskStates.slice(taskStates.indexOf('Create the AMI')), () => moto);
});
