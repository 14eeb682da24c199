import { readFileSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');

/** What a CLI command printed, stream by stream, and its exit code. */
export interface CliResult {
  code: number;
  out: string;
  err: string;
}

/** Runs a command's main with console silenced, collecting what it printed. */
export async function runCli(command: (argv: string[]) => Promise<number>, argv: string[]): Promise<CliResult> {
  const out: string[] = [];
  const err: string[] = [];
  const log = jest.spyOn(console, 'log').mockImplementation((...args: unknown[]) => void out.push(args.join(' ')));
  const error = jest.spyOn(console, 'error').mockImplementation((...args: unknown[]) => void err.push(args.join(' ')));
  try {
    return { code: await command(argv), out: out.join('\n'), err: err.join('\n') };
  } finally {
    log.mockRestore();
    error.mockRestore();
  }
}

/** The ASL file as deployed by the `test` stage: placeholders substituted with function ARNs. */
export function deployedDefinition(): string {
  const asl = readFileSync(path.join(ROOT, 'statemachine', 'bake-ami.asl.json'), 'utf8');
  return asl.replace(
    /\$\{([A-Za-z0-9]+)\}/g,
    (_m, name: string) => `arn:aws:lambda:us-east-1:123456789012:function:comfyui-ami-test-${name.replace(/FunctionArn$/, '')}`,
  );
}
