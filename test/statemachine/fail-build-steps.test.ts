/** The real ASL against moto, failing each of the steps up to a stopped builder before and after its work. */
import { type Moto, startMoto } from '../support/moto';
import { itLeavesTheAccountAsItWas, taskStates } from '../support/step-failures';

let moto: Moto;
beforeAll(async () => {
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
  moto = await startMoto();
});
afterAll(async () => moto?.stop());

describe('a build failing at the steps up to a stopped builder', () => {
  itLeavesTheAccountAsItWas(taskStates.slice(0, taskStates.indexOf('Create the AMI')), () => moto);
});
