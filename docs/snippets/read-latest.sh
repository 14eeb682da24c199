#!/usr/bin/env bash
# Usage: read-latest.sh [environment]   (region from AWS_DEFAULT_REGION or the CLI profile)
set -euo pipefail
environment="${1:-prod}"
prefix="/comfyui/ami/${environment}"

ami_id="$(aws ssm get-parameter --name "${prefix}/latest" --query Parameter.Value --output text)"
state="$(aws ec2 describe-images --image-ids "${ami_id}" --query 'Images[0].State' --output text)"
metadata="$(aws ssm get-parameter --name "${prefix}/metadata" --query Parameter.Value --output text)"

echo "${ami_id}"
echo "${state}"
echo "${metadata}"
