# Perimeter on AWS: one root module, one file per concern (api, lambdas, data, reports, queues,
# workflow, scanners, network, observability). The contract it must honour lives in Python:
# chalicelib/core/contract.py (Lambda table, ASL placeholders, scanner env), chalicelib/core/settings.py
# (environment variables) and chalicelib/aws/dynamodb.py (key schema); tests/infra checks both agree.
#
# State holds the key pepper (a sensitive variable): keep it in an encrypted, access-controlled backend
# (docs/deploy.md shows an S3 backend). No backend block here so that `terraform init -backend=false`
# and a first local apply work unchanged.

terraform {
  required_version = ">= 1.6"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.40, < 6.0"
    }
  }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = merge({
      Project   = "perimeter"
      Stage     = var.stage
      ManagedBy = "terraform"
    }, var.tags)
  }
}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}
