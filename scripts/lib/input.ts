import { readFileSync } from 'node:fs';
import { isPlainObject } from '../../functions/shared/json';
import { isEcrEvent } from '../../functions/shared/request';
import { UsageError } from './stack';

export interface InputFlags {
  env?: string;
  image?: string;
  branch?: string;
  'commit-sha'?: string;
  input?: string;
}

function readInputFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(`--input: cannot read ${file}: ${(error as Error).message}`);
  }
  let input: unknown;
  try {
    input = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`--input: ${file} is not JSON: ${(error as Error).message}`);
  }
  if (!isPlainObject(input)) throw new UsageError(`--input: ${file} must hold a JSON object`);
  return input;
}

/** The state machine input a CLI command builds, from either --input or the flags. */
export function buildInput(values: InputFlags): Record<string, unknown> {
  const flagged = (['env', 'image', 'branch', 'commit-sha'] as const).filter((f) => values[f] !== undefined);
  if (values.input !== undefined) {
    if (flagged.length > 0) throw new UsageError(`--input cannot be combined with ${flagged.map((f) => `--${f}`).join(', ')}`);
    const input = readInputFile(values.input);
    return isEcrEvent(input) || 'source' in input ? input : { ...input, source: 'cli' };
  }
  if (values.env === undefined) throw new UsageError('--env is required (or --input <file>)');
  return {
    environment: values.env,
    ...(values.image !== undefined && { image: values.image }),
    ...(values.branch !== undefined && { branch: values.branch }),
    ...(values['commit-sha'] !== undefined && { commit_sha: values['commit-sha'] }),
    source: 'cli',
  };
}
