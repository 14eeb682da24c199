type Command = { summary: string; load: () => Promise<{ main: (argv: string[]) => Promise<number> }> };

const COMMANDS: Record<string, Command> = {
  run: { summary: 'run a build in this process (against AWS or a local emulator)', load: () => import('./commands/run') },
  start: { summary: 'start a build on the deployed state machine', load: () => import('./commands/start') },
  status: { summary: "show a deployed build's status", load: () => import('./commands/status') },
  watch: { summary: 'follow a deployed build step by step until it ends', load: () => import('./commands/watch') },
  rollback: {
    summary: 'point an environment back to an earlier build (re-point a retained AMI, else rebuild its digest)',
    load: () => import('./commands/rollback'),
  },
  promote: {
    summary: 'build an environment from the digest its configured source environment has published',
    load: () => import('./commands/promote'),
  },
  history: { summary: "list an environment's builds and whether their AMIs still exist", load: () => import('./commands/history') },
  redrive: { summary: 'resume a stopped, timed-out or failed deployed build where it stopped', load: () => import('./commands/redrive') },
  legacy: {
    summary: "list the old system's AMIs of an environment, or delete them once migrated",
    load: () => import('./commands/legacy'),
  },
  lock: { summary: "show an environment's build lock, or clear a stuck one", load: () => import('./commands/lock') },
  logs: {
    summary: "print a build's steps, its functions' lines and its commands' output in time order",
    load: () => import('./commands/logs'),
  },
  cancel: { summary: 'stop a running build and roll it back (before it publishes)', load: () => import('./commands/cancel') },
};

export const COMMAND_NAMES = Object.keys(COMMANDS);

export const USAGE = `Usage: comfyui-ami <command> [options]

Commands:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(9)}${c.summary}`)
  .join('\n')}

Run "comfyui-ami <command> --help" for a command's options.`;

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(USAGE);
    return name ? 0 : 2;
  }
  const command = COMMANDS[name];
  if (!command) {
    console.error(`comfyui-ami: unknown command "${name}"\n\n${USAGE}`);
    return 2;
  }
  return (await command.load()).main(rest);
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      console.error(error);
      process.exitCode = 1;
    },
  );
}
