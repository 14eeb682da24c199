/**
 * The waits of the state machine, the SSM document's own timeout and the execution timeout
 * fit each other and the build's time estimates (builder/README.md): a 95-minute fresh build,
 * a first snapshot of several hours.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { TIMEOUT_SECONDS } from '../../builder/documents.cjs';
import { healthCheckMaxAttempts, type PipelineConfig, parseConfig, readConfigFile } from '../../functions/shared/config';

const ROOT = path.join(__dirname, '..', '..');
const asl = JSON.parse(readFileSync(path.join(ROOT, 'statemachine', 'bake-ami.asl.json'), 'utf8')) as {
  TimeoutSeconds: number;
  States: Record<string, { Type: string; Seconds?: number; TimeoutSeconds?: number; Resource?: string }>;
};

/** A Task paused until an event (or its own timeout, the fallback) wakes it. */
const isTokenWait = (s: { Type: string; Resource?: string }) => s.Type === 'Task' && (s.Resource ?? '').endsWith('.waitForTaskToken');

/**
 * Each waiting loop of the state machine (a Wait state, or a Task paused for an event whose
 * timeout is the fallback) and the setting that bounds its iterations.
 */
const LOOPS: Record<string, (c: PipelineConfig) => number> = {
  'Wait for the environment': (c) => c.lock.maxWaitAttempts,
  'Wait for the update': (c) => c.polling.commandMaxAttempts,
  'Wait for the builder to stop': (c) => c.polling.stopMaxAttempts,
  'Wait for the AMI': (c) => c.polling.imageMaxAttempts,
  // The longest verification of any environment bounds this loop.
  'Wait for the health check': (c) => Math.max(...Object.values(c.environments).map((e) => healthCheckMaxAttempts(e.verify))),
};
const waitSeconds = (name: string) => (asl.States[name].Seconds ?? asl.States[name].TimeoutSeconds) as number;
const maxWait = (c: PipelineConfig, name: string) => waitSeconds(name) * LOOPS[name](c);

const FRESH_BUILD_ESTIMATE_SECONDS = 95 * 60;
const FIRST_SNAPSHOT_SECONDS = 4 * 60 * 60;

const configs: Array<[string, PipelineConfig]> = [
  ['config/pipeline.json', readConfigFile(path.join(ROOT, 'config', 'pipeline.json'))],
  ['the defaults', parseConfig({ repositories: ['comfyui'], environments: { dev: { tags: ['dev'], defaultTag: 'dev' } } }, 'test')],
];

describe('timeouts', () => {
  it('knows every waiting loop of the state machine', () => {
    const waits = Object.entries(asl.States)
      .filter(([, s]) => s.Type === 'Wait' || isTokenWait(s))
      .map(([name]) => name);
    expect(waits.sort()).toEqual(Object.keys(LOOPS).sort());
  });

  describe.each(configs)('with %s', (_, config) => {
    it('gives the execution more time than the sum of its maximum waits', () => {
      const sum = Object.keys(LOOPS).reduce((total, name) => total + maxWait(config, name), 0);
      expect(sum).toBeLessThan(asl.TimeoutSeconds);
    });

    it('waits for the command longer than the document lets it run, which fits a fresh build', () => {
      const documentTimeout = Number(TIMEOUT_SECONDS);
      expect(documentTimeout).toBeGreaterThan(FRESH_BUILD_ESTIMATE_SECONDS);
      expect(maxWait(config, 'Wait for the update')).toBeGreaterThan(documentTimeout);
    });

    it('waits hours for the AMI, as a first snapshot can take', () => {
      expect(maxWait(config, 'Wait for the AMI')).toBeGreaterThanOrEqual(FIRST_SNAPSHOT_SECONDS);
    });

    it('never sweeps a live builder nor takes over a live lock', () => {
      expect(config.builder.maxAgeMinutes * 60).toBeGreaterThan(asl.TimeoutSeconds);
      expect(config.lock.leaseMinutes * 60).toBeGreaterThan(asl.TimeoutSeconds);
    });

    it('provisions the builder volume above the gp3 baseline, within gp3 limits', () => {
      expect(config.builder.rootVolumeThroughput).toBeGreaterThan(125);
      expect(config.builder.rootVolumeIops).toBeGreaterThan(3000);
      expect(config.builder.rootVolumeThroughput * 4).toBeLessThanOrEqual(config.builder.rootVolumeIops);
    });
  });

  it('refuses a volume throughput above what its IOPS allow, naming the field', () => {
    expect(() =>
      parseConfig(
        {
          repositories: ['comfyui'],
          environments: { dev: { tags: ['dev'], defaultTag: 'dev' } },
          builder: { rootVolumeThroughput: 1000, rootVolumeIops: 3000 },
        },
        'test',
      ),
    ).toThrow(/builder\.rootVolumeThroughput/);
  });
});
