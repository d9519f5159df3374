"""Checks of the AWS deployment: Terraform (fmt, validate, checkov, contract), packaging, config, cost."""
