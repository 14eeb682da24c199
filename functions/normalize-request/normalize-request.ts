import { DescribeImagesCommand, DescribeRepositoriesCommand, ImageNotFoundException, RepositoryNotFoundException } from '@aws-sdk/client-ecr';
import type { StepContext } from '../shared/handler';
import { ImageNotFound, RequestInvalid } from '../shared/errors';
import { parseRequest } from '../shared/request';
import type { BuildRequest, BuildState } from '../shared/state';

/**
 * Validates the raw input, then pins the image to a digest that exists in ECR, so every later
 * step (and the metadata) names exactly the bytes that were pushed.
 */
export async function normalizeRequest(state: Pick<BuildState, 'input' | 'execution'>, { config, clients }: StepContext): Promise<BuildRequest> {
  // The execution's start is the trusted clock an event's time is checked against.
  const parsed = parseRequest(state.input, config, new Date(state.execution.startTime));

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
    throw new RequestInvalid(`input.image: the registry must be ${registry} (the repository's own), got ${parsed.registry}`);
  }

  const imageId = parsed.digest ? { imageDigest: parsed.digest } : { imageTag: parsed.tag ?? '' };
  let digest: string;
  let tags: string[];
  try {
    const images = await clients.ecr.send(new DescribeImagesCommand({ repositoryName: parsed.repository, imageIds: [imageId] }));
    const detail = images.imageDetails?.[0];
    digest = detail?.imageDigest ?? '';
    tags = detail?.imageTags ?? [];
  } catch (error) {
    if (error instanceof ImageNotFoundException) {
      throw new ImageNotFound(`${parsed.repository}${parsed.digest ? `@${parsed.digest}` : `:${parsed.tag}`} does not exist in ECR`);
    }
    throw error;
  }
  if (!digest) throw new ImageNotFound(`ECR returned no digest for ${parsed.repository}:${parsed.tag}`);

  return {
    environment: parsed.environment,
    repository: parsed.repository,
    imageUri: `${repositoryUri}@${digest}`,
    digest,
    tag: parsed.tag ?? tags[0] ?? null,
    branch: parsed.branch,
    commitSha: parsed.commitSha,
    source: parsed.source,
    requestedAt: parsed.requestedAt ?? state.execution.startTime,
  };
}
