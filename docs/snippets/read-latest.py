"""Usage: python3 read-latest.py [environment]   (region from AWS_REGION)"""
import json
import os
import sys

import boto3

REGION = os.environ.get('AWS_REGION', 'us-east-1')
ssm = boto3.client('ssm', region_name=REGION)
ec2 = boto3.client('ec2', region_name=REGION)


def read_parameter(name):
    try:
        return ssm.get_parameter(Name=name)['Parameter']['Value']
    except ssm.exceptions.ParameterNotFound:
        raise SystemExit(f'{name} does not exist: no AMI has been published for this environment yet')


def latest_ami(environment):
    """The current AMI id, its state, and the metadata of the build that made it."""
    prefix = f'/comfyui/ami/{environment}'
    ami_id = read_parameter(f'{prefix}/latest')
    image = ec2.describe_images(ImageIds=[ami_id])['Images'][0]
    metadata = json.loads(read_parameter(f'{prefix}/metadata'))
    return ami_id, image['State'], metadata


if __name__ == '__main__':
    ami_id, state, metadata = latest_ami(sys.argv[1] if len(sys.argv) > 1 else 'prod')
    print(ami_id)
    print(state)
    print(json.dumps(metadata))
