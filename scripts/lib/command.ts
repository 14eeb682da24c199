import type { ParseArgsConfig } from 'node:util';
import { Logger } from '@aws-lambda-powertools/logger';
import { defaultClients, resetDefaultClients } from '../../functions/shared/clients';
import { environmentConfig, type PipelineConfig } from '../../functions/shared/config';
import { fieldRenamer, InvalidInput } from '../../functions/shared/errors';
import {
  EXECUTION_FLAGS,
  failure,
  loadCliConfig,
  parseCommandLine,
  resolveExecutionArn,
  type STACK_OPTIONS,
  UsageError,
  usageFailure,
} from './stack';

type Options = NonNullable<ParseArgsConfig['options']>;
export type Values<O extends Options> = ReturnType<typeof parseCommandLine<O>>['values'];

/** The flags of a command that acts on one environment of the config. */
export const ENVIRONMENT_OPTIONS = {
  env: { type: 'string' },
  json: { type: 'boolean' },
  config: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies Options;

/** One CLI command: its usage, its flags, and what it does once the command line is read. */
export interface CommandSpec<O extends Options> {
  usage: string;
  options: O;
  /** The one positional argument, as the usage names it (`<execution-name|execution-arn>`); none when absent. */
  positional?: string;
  /** When the positional is not wanted after all (`status --env` names no build). */
  withoutPositional?: (values: Values<O>) => boolean;
  /**
   * How this command line names the fields of a refused request (`{ environment: '--env' }`),
   * so a RequestInvalid or ConfigInvalid names the flag to change.
   */
  flags?: Readonly<Record<string, string>> | ((values: Values<O>) => Readonly<Record<string, string>>);
  /** The command to suggest after an operational failure. */
  next?: (error: Error) => string | undefined;
  run: (values: Values<O>, positional: string) => Promise<number>;
}

/**
 * The skeleton every command shares: strict flags, `--help` (exit 0), positional arguments,
 * and exit codes: 2 for a wrong command line (with the usage), a refused request or
 * configuration (naming the flag or field) and a missing AWS region or credentials; 1 for an
 * operational failure, with the next command to run when there is one.
 */
export function command<O extends Options>(spec: CommandSpec<O>): (argv: string[]) => Promise<number> {
  return async (argv) => {
    let values: Values<O> | undefined;
    try {
      const parsed = parseCommandLine(argv, spec.options);
      values = parsed.values;
      if ((values as { help?: boolean }).help) {
        console.log(spec.usage);
        return 0;
      }
      const { positionals } = parsed;
      const wanted = spec.positional !== undefined && !spec.withoutPositional?.(values);
      const extra = wanted ? positionals.slice(1) : positionals;
      if (wanted && positionals.length === 0) throw new UsageError(`${spec.positional} is required`);
      if (extra.length > 0) throw new UsageError(`unexpected argument(s): ${extra.join(' ')}`);
      return await spec.run(values, positionals[0] ?? '');
    } catch (error) {
      if (error instanceof UsageError) return usageFailure(error.message, spec.usage);
      if (error instanceof InvalidInput) {
        const names = typeof spec.flags === 'function' ? (values ? spec.flags(values) : {}) : (spec.flags ?? {});
        // A config problem is no flag's: it says so by name.
        const kind = error.name === 'ConfigInvalid' ? 'ConfigInvalid: ' : '';
        const rename = fieldRenamer(names);
        const message = `${kind}${error.source ? `${error.source}: ` : ''}${error.describe(rename)}`;
        // A flag's value was refused: the usage shows its form next to the others.
        if (error.issues.some((issue) => rename(issue.field) !== issue.field)) return usageFailure(message, spec.usage);
        console.error(`error: ${message}`);
        return 2;
      }
      return failure(error, spec.next?.(error as Error));
    }
  };
}

/** The next command to suggest when a build's name or ARN names no execution. */
export const LIST_BUILDS = 'check the name, or list builds: aws stepfunctions list-executions --state-machine-arn <arn>';

/**
 * A command on one deployed build (watch, logs, cancel, redrive): its one positional is an
 * execution name or ARN, and `run` gets the ARN, the name resolved through the stack flags.
 */
export function executionCommand<O extends typeof STACK_OPTIONS & Options>(
  spec: Omit<CommandSpec<O>, 'positional' | 'withoutPositional' | 'flags' | 'run'> & {
    run: (values: Values<O>, executionArn: string) => Promise<number>;
  },
): (argv: string[]) => Promise<number> {
  return command({
    ...spec,
    positional: EXECUTION_FLAGS.id,
    flags: EXECUTION_FLAGS,
    run: async (values, id) => spec.run(values, await resolveExecutionArn(id, values)),
  });
}

/** The config (--config) and the environment (--env) of a command that acts on one environment. */
export function configAndEnvironment(values: { config?: string; env?: string }): { config: PipelineConfig; env: string } {
  const config = loadCliConfig(values.config);
  return { config, env: requireEnvironment(config, values.env) };
}

/** The --env flag: required, and one of the config's environments. */
export function requireEnvironment(config: PipelineConfig, env: string | undefined, flag = '--env'): string {
  if (env === undefined) throw new UsageError(`${flag} is required`);
  if (!environmentConfig(config, env))
    throw new UsageError(
      `${flag}: must be one of the configured environments (${Object.keys(config.environments).join(', ')}), got "${env.slice(0, 40)}"`,
    );
  return env;
}

/** Clients and config for a command's AWS calls; fresh, as the endpoint or credentials may have changed since the last command. */
export function cliDeps(config: PipelineConfig) {
  resetDefaultClients();
  return { config, clients: defaultClients(), logger: new Logger({ serviceName: 'comfyui-ami-cli', logLevel: 'SILENT' }) };
}
