import type { EC2Client, Image } from '@aws-sdk/client-ec2';
import type { PipelineConfig } from './config';
import { findImages } from './ec2';
import { stableAmiName } from './names';
import { TAG, tagValue } from './tags';

/**
 * The old system named each environment's AMI `{prefix}-{env}`, sometimes with a suffix
 * (`{prefix}-{env}-<anything>`), or carried that name only in the Name tag. Environments may
 * share a prefix (`qa`, `qa-east`), so a name belongs to the configured environment with the
 * longest stable name it equals or extends: `comfyui-multitenant-qa-east-7` is qa-east's when
 * qa-east is configured, and qa's only when it is not.
 */
export function legacyOwner(config: PipelineConfig, name: string | undefined): string | null {
  if (!name) return null;
  let owner: string | null = null;
  for (const environment of Object.keys(config.environments)) {
    const stable = stableAmiName(config, environment);
    if ((name === stable || name.startsWith(`${stable}-`)) && (!owner || environment.length > owner.length)) owner = environment;
  }
  return owner;
}

/** An AMI of the old system for this environment: not the pipeline's, its name or Name tag owned by it. */
export function isLegacyImage(config: PipelineConfig, image: Image, environment: string): boolean {
  if (tagValue(image.Tags, TAG.managedBy)) return false;
  const byName = legacyOwner(config, image.Name);
  const byTag = legacyOwner(config, tagValue(image.Tags, 'Name'));
  // Name and Name tag must not point at two different environments.
  if (byName && byTag && byName !== byTag) return false;
  return (byName ?? byTag) === environment;
}

/** The account's AMIs whose name, or Name tag, equals or extends the environment's stable name. */
export interface StableNameListing {
  named: Image[];
  nameTagged: Image[];
}

export async function listByStableName(ec2: EC2Client, config: PipelineConfig, environment: string): Promise<StableNameListing> {
  const pattern = `${stableAmiName(config, environment)}*`;
  // findImages asks only for Owners: ['self']: a public or shared AMI that copies the name is never used.
  const [named, nameTagged] = await Promise.all([
    findImages(ec2, [{ Name: 'name', Values: [pattern] }]),
    findImages(ec2, [{ Name: 'tag:Name', Values: [pattern] }]),
  ]);
  return { named, nameTagged };
}

/** The old system's AMIs of an environment in a listing, newest first. */
export function legacyImagesIn(listing: StableNameListing, config: PipelineConfig, environment: string): Image[] {
  const byId = new Map<string, Image>();
  for (const image of [...listing.named, ...listing.nameTagged])
    if (image.ImageId && image.State !== 'deregistered' && isLegacyImage(config, image, environment)) byId.set(image.ImageId, image);
  return [...byId.values()].sort((a, b) => (b.CreationDate ?? '').localeCompare(a.CreationDate ?? ''));
}

/** The old system's AMIs of an environment that this account owns, newest first. */
export async function findLegacyImages(ec2: EC2Client, config: PipelineConfig, environment: string): Promise<Image[]> {
  return legacyImagesIn(await listByStableName(ec2, config, environment), config, environment);
}
