import {
  DescribeImagesCommand,
  DescribeRepositoriesCommand,
  ImageNotFoundException,
  RepositoryNotFoundException,
} from '@aws-sdk/client-ecr';
import { verifyConfig } from '../shared/config-values';
import { ImageNotFound, RequestInvalid } from '../shared/errors';
import type { StepContext } from '../shared/handler';
import { assertImageBelongs, type ImageGrounds } from '../shared/image-belongs';
import { isRollbackInput, parseRequest } from '../shared/request';
import { recordedRequester, unrecordedRequester } from '../shared/requester';
import type { BuildRequest, BuildState } from '../shared/state';
import { normalizeRollback } from './rollback-request';

/** A request pinned to its digest, before the requester is known. */
export type ResolvedRequest = Omit<BuildRequest, 'requestedBy'> & { grounds: ImageGrounds };

/**
 * Validates the raw input, pins the image to a digest that exists in ECR, so every later step
 * (and the metadata) names exactly the bytes that were pushed, and refuses an image that does
 * not belong to the environment. Shared by the step and the start function.
 */
export async function resolveRequest(
  input: unknown,
  startTime: string,
  { config, clients }: Pick<StepContext<'ecr' | 'ssm'>, 'config' | 'clients'>,
): Promise<ResolvedRequest> {
  // The execution's start is the trusted clock an event's time is checked against.
  const parsed = parseRequest(input, config, new Date(startTime));

  let repositoryUri: string;
  try {
    const repos = await clients.ecr.send(new DescribeRepositoriesCommand({ repositoryNames: [parsed.repository] }));
    repositoryUri = repos.repositories?.[0]?.repositoryUri ?? '';
  } catch (error) {
    if (error instanceof RepositoryNotFoundException) throw new ImageNotFound(`repository "${parsed.repository}" does not exist in ECR`);
    throw error;
  }
  const registry = repositoryUri.slice(0, repositoryUri.indexOf('/'));
  if (parsed.registry !== null && parsed.registry !== registry) {
    throw new RequestInvalid({
      field: 'input.image',
      allowed: `an image behind the registry ${registry} (the repository's own)`,
      received: parsed.registry,
      problem: `the registry ${parsed.registry} is not the repository's own`,
    });
  }

  const reference = `${parsed.repository}${parsed.digest ? `@${parsed.digest}` : `:${parsed.tag}`}`;
  const imageId = parsed.digest ? { imageDigest: parsed.digest } : { imageTag: parsed.tag ?? '' };
  let digest: string | null = null;
  let tags: string[] = [];
  try {
    const images = await clients.ecr.send(new DescribeImagesCommand({ repositoryName: parsed.repository, imageIds: [imageId] }));
    const detail = images.imageDetails?.[0];
    digest = detail?.imageDigest || null;
    tags = detail?.imageTags ?? [];
  } catch (error) {
    if (!(error instanceof ImageNotFoundException)) throw error;
  }

  let grounds: ImageGrounds;
  if (parsed.source === 'ecr-push') {
    // The push event's tag matched exactly one environment when it was parsed.
    grounds = { kind: 'tag', tag: parsed.tag ?? '' };
  } else if (parsed.digest === null) {
    // parseRequest accepted the tag only if it is one of the environment's.
    grounds = { kind: 'tag', tag: parsed.tag ?? '' };
  } else {
    // A digest belongs if a tag of the environment points to it now, or the environment published it.
    grounds = await assertImageBelongs(
      parsed.environment,
      { repository: parsed.repository, digest: parsed.digest, tags },
      { config, ssm: clients.ssm },
    );
  }
  if (!digest) throw new ImageNotFound(`${reference} does not exist in ECR`);

  return {
    environment: parsed.environment,
    repository: parsed.repository,
    imageUri: `${repositoryUri}@${digest}`,
    digest,
    tag: parsed.tag ?? tags[0] ?? null,
    branch: parsed.branch,
    commitSha: parsed.commitSha,
    source: parsed.source,
    requestedAt: parsed.requestedAt ?? startTime,
    grounds,
    verify: verifyConfig(config, parsed.environment).enabled,
    rollbackTo: null,
  };
}

/**
 * The state machine's first step: the request resolved as above, plus who asked for it, read
 * from what the start function recorded (never from the input, which any caller of
 * StartExecution writes).
 */
export async function normalizeRequest(
  state: Pick<BuildState, 'input' | 'execution'>,
  ctx: StepContext<'ecr' | 'ssm' | 'dynamodb'>,
): Promise<BuildRequest> {
  // A rollback names no image: its target's history entry does (rollback-request.ts).
  const { grounds, ...request } = isRollbackInput(state.input)
    ? { ...(await normalizeRollback(state, ctx)), grounds: 'rollback' as const }
    : await resolveRequest(state.input, state.execution.startTime, ctx);
  const recorded =
    request.source === 'ecr-push'
      ? null
      : await recordedRequester(ctx.clients.dynamodb, ctx.config, state.execution.name, state.execution.startTime);
  const requestedBy = recorded ?? unrecordedRequester(request.source);
  ctx.logger.info('request accepted', {
    environment: request.environment,
    imageUri: request.imageUri,
    grounds,
    requestedBy,
    source: request.source,
  });
  return { ...request, requestedBy };
}
