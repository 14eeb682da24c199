/** An EC2 image id, and how refusals describe it. */
export const AMI_ID = /^ami-[0-9a-f]{8,17}$/;
export const AMI_ID_FORM = 'an AMI id such as ami-0123456789abcdef0';

export { escapeRegExp } from './escape-regexp.cjs';
/** An image digest as ECR reports it. */
export const DIGEST = /^sha256:[0-9a-f]{64}$/;
