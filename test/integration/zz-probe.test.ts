import '../../scripts/lib/polyfills';
import { readAccount, snapshotIds } from '../support/account';
import { build, demoConfig, pushEvent } from '../support/builds';
import { startMoto, type Moto } from '../support/moto';
import { pushImage, seedAccount } from '../../scripts/lib/seed';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy';
import { resetDefaultClients } from '../../functions/shared/clients';
import { useEndpoint } from '../../scripts/lib/moto';

const config = demoConfig();
let moto: Moto; let proxy: FaultProxy;
beforeAll(async () => { process.env.POWERTOOLS_LOG_LEVEL = 'SILENT'; moto = await startMoto(); proxy = await startFaultProxy(moto.endpoint); });
afterAll(async () => { await proxy?.stop(); await moto?.stop(); });

it('probe', async () => {
  let t = Date.now(); const lap = (l: string) => { console.log(l, Date.now() - t); t = Date.now(); };
  useEndpoint(proxy.endpoint); resetDefaultClients();
  await seedAccount(config); lap('seed');
  const baseline = await snapshotIds();
  for (let i = 0; i < 4; i++) {
    proxy.resetCounts();
    const d1 = await pushImage('comfyui', 'dev-latest', 'one' + i);
    const one = await build(pushEvent('comfyui', 'dev-latest', d1), config, 'dev-one' + i); lap('build ' + one.status);
    const c = proxy.counts(); console.log(Object.entries(c).sort((a, b) => b[1].upstreamMs - a[1].upstreamMs).map(([k, v]) => `${k} ${v.requests} ${v.upstreamMs}`).join('\n'));
    await readAccount(baseline); lap('read');
  }
  proxy.resetCounts();
  await readAccount(baseline); lap('read');
  console.log(JSON.stringify(proxy.counts()));
});
