import { startMoto as start, useEndpoint, type Moto } from '../../scripts/lib/moto';
import { resetDefaultClients } from '../../functions/shared/clients';

export type { Moto };

/** A moto server for one test file, with every SDK client of this process pointed at it. */
export async function startMoto(): Promise<Moto> {
  const moto = await start();
  useEndpoint(moto.endpoint);
  resetDefaultClients();
  return moto;
}
