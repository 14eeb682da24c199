import { SendTaskSuccessCommand, type SFNClient } from '@aws-sdk/client-sfn';

/** Why the execution was woken; the check step that follows reads the resource itself. */
export interface Wake {
  resourceId: string;
  status: string;
  via: 'event' | 'check';
}

/** The Task already ended (timed out into its fallback check, or the execution stopped): nothing to wake. */
const ENDED = new Set(['TaskTimedOut', 'TaskDoesNotExist', 'InvalidToken']);

/**
 * Resumes the Task that waits with `taskToken`. Only ever a success: the state machine's next
 * step checks the resource and fails with its own named error, so no event's content decides
 * how a build ends. Returns false when the Task had already ended.
 */
export async function wakeExecution(sfn: SFNClient, taskToken: string, wake: Wake): Promise<boolean> {
  try {
    await sfn.send(new SendTaskSuccessCommand({ taskToken, output: JSON.stringify(wake) }));
    return true;
  } catch (error) {
    if (ENDED.has((error as Error).name)) return false;
    throw error;
  }
}
