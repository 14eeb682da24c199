# Usage: terraform apply -var environment=prod
terraform {
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0"
    }
  }
}

variable "environment" {
  type    = string
  default = "prod"
}

variable "region" {
  type    = string
  default = "us-east-1"
}

provider "aws" {
  region = var.region
}

data "aws_ssm_parameter" "comfyui_ami" {
  name = "/comfyui/ami/${var.environment}/latest"
}

data "aws_ssm_parameter" "comfyui_ami_metadata" {
  name = "/comfyui/ami/${var.environment}/metadata"
}

data "aws_ami" "comfyui" {
  owners = ["self"]
  filter {
    name   = "image-id"
    values = [data.aws_ssm_parameter.comfyui_ami.value]
  }
}

# The image of your instances and launch templates: ami = data.aws_ssm_parameter.comfyui_ami.value
# (insecure_value below: these String parameters hold nothing secret, and outputs may show them)
output "ami_id" {
  value = data.aws_ssm_parameter.comfyui_ami.insecure_value
}

output "ami_state" {
  value = data.aws_ami.comfyui.state
}

output "metadata" {
  value = jsondecode(data.aws_ssm_parameter.comfyui_ami_metadata.insecure_value)
}
