/** The step timeline of `run` and `npm run demo`: each step once, retries and events on their own lines. */
import { Timeline } from '../../scripts/commands/run';

function timeline(): { lines: string[]; t: Timeline } {
  const lines: string[] = [];
  return { lines, t: new Timeline((line) => lines.push(line)) };
}

it('shows a failed attempt that the ASL retries as a retry, never as a failure followed by the step done', () => {
  const { lines, t } = timeline();
  t.push({ kind: 'step-failed', name: 'Create the AMI', error: 'AwsThrottled', cause: 'Rate exceeded\nmore', elapsedMs: 1000 });
  t.push({ kind: 'step-retried', name: 'Create the AMI', attempt: 2, elapsedMs: 3000 });
  t.push({ kind: 'step-succeeded', name: 'Create the AMI', output: null, durationMs: 400, elapsedMs: 3400 });
  t.flush();

  expect(lines).toEqual(['[   1.0s] ↻ Create the AMI: retry 2 after AwsThrottled: Rate exceeded', '[   3.4s] ✓ Create the AMI (0.4s)']);
});

it('says whether an event resumed a paused step, without calling an event that found none an error', () => {
  const { lines, t } = timeline();
  t.push({ kind: 'event-delivered', resourceId: 'ami-0123456789abcdef0', status: 'available', elapsedMs: 2000, resumed: true });
  t.push({ kind: 'event-delivered', resourceId: 'i-0123456789abcdef0', status: 'stopped', elapsedMs: 2500, resumed: false });

  expect(lines).toEqual([
    '[   2.0s] ⚡ ami-0123456789abcdef0 available: the waiting step resumed',
    '[   2.5s] ⚡ i-0123456789abcdef0 stopped: no step was waiting for it',
  ]);
});
