/**
 * `npm run bench -- --sdk-choice`: the two ways a function can get the AWS SDK, measured in one
 * run: bundled and tree-shaken (esbuild with the ES module builds of the SDK) or external (the
 * Lambda runtime's own SDK, here this repository's node_modules on NODE_PATH). Built with the
 * esbuild options of serverless.yml's custom.esbuild, without source maps.
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { buildSync } from 'esbuild';
import { scratchDir } from '../lib/scratch-dir';
import { bareHandler, type LoadTarget, measureLoadRatios } from './load-time';
import { formatTable } from './table';

const ROOT = path.resolve(__dirname, '..', '..');

function build(folder: string, outDir: string, external: boolean): string {
  const outfile = path.join(outDir, external ? 'external' : 'bundled', folder, 'handler.js');
  buildSync({
    entryPoints: [path.join(ROOT, 'functions', folder, 'handler.ts')],
    outfile,
    bundle: true,
    minify: true,
    platform: 'node',
    target: 'node22',
    format: 'cjs',
    mainFields: ['module', 'main'],
    external: external ? ['@aws-sdk/*'] : [],
    logLevel: 'error',
  });
  return outfile;
}

export function sdkChoice(runs: number): string {
  const dir = scratchDir('comfyui-ami-sdk-choice');
  const folders = readdirSync(path.join(ROOT, 'functions'), { withFileTypes: true })
    .filter((d) => d.isDirectory() && d.name !== 'shared')
    .map((d) => d.name)
    .sort();
  const targets: LoadTarget[] = [];
  for (const folder of folders) {
    targets.push({ name: `${folder} bundled`, file: build(folder, dir, false) });
    targets.push({ name: `${folder} external`, file: build(folder, dir, true), env: { NODE_PATH: path.join(ROOT, 'node_modules') } });
  }
  const { baseline: bare, loads } = measureLoadRatios(bareHandler(dir), targets, runs);
  const byName = new Map(loads.map((f) => [f.name, f]));
  const rows = folders.map((folder) => {
    const bundled = byName.get(`${folder} bundled`)!;
    const external = byName.get(`${folder} external`)!;
    return [
      folder,
      `${bundled.ratio.toFixed(2)}x`,
      bundled.peakMiB.toFixed(0),
      `${external.ratio.toFixed(2)}x`,
      external.peakMiB.toFixed(0),
    ];
  });
  return formatTable(
    ['function', 'bundled SDK: load', 'MiB', 'external SDK: load', 'MiB'],
    rows,
    `bare handler: ${bare.medianMs.toFixed(0)} ms, ${bare.peakMiB.toFixed(0)} MiB; median of ${runs} ratios, each load to a bare handler's just before it`,
  );
}
