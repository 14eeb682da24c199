import { resetDefaultClients } from '../../functions/shared/clients';
import { type Moto as BaseMoto, startMoto as start, useEndpoint } from '../../scripts/lib/moto';
import { type MotoGapsProxy, startMotoGapsProxy } from './moto-gaps';

/** `endpoint` is the proxy's; `serverEndpoint` moto's own, for a reader in another process (a spawnSync blocks this one, and the proxy with it). */
export type Moto = BaseMoto & { serverEndpoint: string; fastSnapshotRestores: MotoGapsProxy['fastSnapshotRestores'] };

/**
 * A moto server for one test file, with every SDK client of this process pointed at it, through
 * the proxy that supplies what moto lacks of CreateImage (snapshot TagSpecifications).
 */
export async function startMoto(python?: string): Promise<Moto> {
  const moto = await start(python);
  const proxy = await startMotoGapsProxy(moto.endpoint).catch(async (error: unknown) => {
    await moto.stop();
    throw error;
  });
  useEndpoint(proxy.endpoint);
  resetDefaultClients();
  return {
    endpoint: proxy.endpoint,
    serverEndpoint: moto.endpoint,
    reset: () => {
      proxy.fastSnapshotRestores().clear();
      return moto.reset();
    },
    fastSnapshotRestores: () => proxy.fastSnapshotRestores(),
    async stop() {
      await proxy.stop();
      await moto.stop();
    },
  };
}
