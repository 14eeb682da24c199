import { pythonTools, pythonToolsEnv } from '../../scripts/lib/python-tools';

/** Once per jest run: the python with the pinned tools (the machine's or .venv/dev), for every worker. */
export default function globalSetup(): void {
  const env = pythonToolsEnv(pythonTools());
  process.env.PYTHON = env.PYTHON;
  process.env.PATH = env.PATH;
  // No EMF lines from in-process runs of the announce step; the metrics tests enable them.
  process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
}
