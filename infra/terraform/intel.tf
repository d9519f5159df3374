# Exposure intelligence: the `refresh_intel` Lambda (app.refresh_intel -> Services.refresh_intel) rebuilds
# the bundle (CISA KEV, endoflife.date cycles and release dates, pruned) from the live feeds once a day
# and writes it to the reports bucket under `intel/<version>/`, then the pointer `intel/latest.json`.
# Its schedule is local.schedules (sweepers.tf: EventBridge rule, target, permission, no retry): a failed
# run writes nothing and the scanners keep the newest valid copy (or the one packaged with the code).
# The scanner task reads the newest copy (scanners.tf: ReadIntel). The Lambdas run outside a VPC, so the
# feeds are reached directly over the internet.

locals {
  intel_prefix = "intel"
  intel_lambda_statements = [
    {
      sid       = "ReadWriteIntel", actions = ["s3:GetObject", "s3:PutObject"],
      resources = ["${local.bucket_arn}/${local.intel_prefix}/*"]
    },
    # Without ListBucket a missing pointer reads as AccessDenied instead of NoSuchKey.
    {
      sid       = "FindIntel", actions = ["s3:ListBucket"], resources = [local.bucket_arn],
      condition = { test = "StringLike", variable = "s3:prefix", values = ["${local.intel_prefix}/*"] }
    },
  ]
}

variable "intel_kev_url" {
  description = "PERIMETER_INTEL_KEV_URL: the CISA KEV JSON feed; null: the code's default (the CISA feed)."
  type        = string
  default     = null

  validation {
    condition     = can(regex("^https://", coalesce(var.intel_kev_url, "https://default")))
    error_message = "intel_kev_url must be an https:// URL."
  }
}

variable "intel_eol_url" {
  description = "PERIMETER_INTEL_EOL_URL: endoflife.date API URL with {product}; null: the code's default."
  type        = string
  default     = null

  validation {
    condition     = can(regex("^https://.*[{]product[}]", coalesce(var.intel_eol_url, "https://default/{product}")))
    error_message = "intel_eol_url must be an https:// URL containing {product}."
  }
}

variable "intel_releases_url" {
  description = "PERIMETER_INTEL_RELEASES_URL: endoflife.date release-data URL with {product}; null: the code's default."
  type        = string
  default     = null

  validation {
    condition     = can(regex("^https://.*[{]product[}]", coalesce(var.intel_releases_url, "https://default/{product}")))
    error_message = "intel_releases_url must be an https:// URL containing {product}."
  }
}
