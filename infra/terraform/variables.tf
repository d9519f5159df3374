# Inputs. Defaults give the cheapest sensible production shape (docs/cost.md); every variable is
# validated so that a typo fails at plan time, not at the first scan.

variable "region" {
  description = "AWS region to deploy into."
  type        = string
  default     = "us-east-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must look like us-east-1."
  }
}

variable "prefix" {
  description = "Name prefix of every resource (table, bucket, queues, functions, cluster)."
  type        = string
  default     = "perimeter"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,19}$", var.prefix))
    error_message = "prefix must be 2-20 characters: lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "stage" {
  description = "Deployment stage name, passed to the code as PERIMETER_STAGE."
  type        = string
  default     = "prod"

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{1,15}$", var.stage)) && var.stage != "local"
    error_message = "stage must be 2-16 lowercase letters or digits and must not be \"local\" (reserved for the embedded stack)."
  }
}

variable "tags" {
  description = "Extra tags for every resource."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k, v in var.tags : length(k) <= 128 && length(v) <= 256 && !startswith(lower(k), "aws:")])
    error_message = "tags: keys up to 128 characters, values up to 256, no aws: prefix."
  }
}

# --- Lambda package -------------------------------------------------------------------------------

variable "lambda_zip" {
  description = "Path of the deployment package built by `make package` (relative to this directory or absolute)."
  type        = string
  default     = "../../dist/lambda.zip"

  validation {
    condition     = endswith(var.lambda_zip, ".zip")
    error_message = "lambda_zip must be a .zip file."
  }
}

variable "api_routes_file" {
  description = "JSON list of the Chalice routes, written by `make package` next to the zip (the API Gateway paths)."
  type        = string
  default     = "../../dist/api-routes.json"

  validation {
    condition     = endswith(var.api_routes_file, ".json")
    error_message = "api_routes_file must be a .json file."
  }
}

variable "lambda_architecture" {
  description = "Lambda CPU architecture; must match the wheels `make package` installed (manylinux x86_64 by default)."
  type        = string
  default     = "x86_64"

  validation {
    condition     = contains(["x86_64", "arm64"], var.lambda_architecture)
    error_message = "lambda_architecture must be x86_64 or arm64."
  }
}

# --- Settings passed to the code (chalicelib/core/settings.py ENV_VARS) -------------------------------

variable "key_pepper" {
  description = "PERIMETER_KEY_PEPPER: server-side secret that API keys are hashed under (16+ characters). Changing it invalidates every issued key."
  type        = string
  sensitive   = true

  validation {
    condition     = length(var.key_pepper) >= 16
    error_message = "key_pepper must be at least 16 characters (Settings.key_pepper min_length)."
  }
}

variable "webhook_secret_key" {
  description = "PERIMETER_WEBHOOK_SECRET_KEY: key wrapping the stored webhook signing secrets (32+ characters; required outside the local stage). Changing it makes stored webhook secrets unreadable."
  type        = string
  sensitive   = true

  validation {
    condition     = length(var.webhook_secret_key) >= 32
    error_message = "webhook_secret_key must be at least 32 characters (Settings.webhook_secret_key min_length)."
  }
}

variable "report_signing_key" {
  description = "PERIMETER_REPORT_SIGNING_KEY: HMAC key sealing stored reports (16+ characters); null: derived from the key pepper."
  type        = string
  sensitive   = true
  default     = null

  validation {
    condition     = var.report_signing_key == null || length(coalesce(var.report_signing_key, "x")) >= 16
    error_message = "report_signing_key must be null or at least 16 characters."
  }
}

variable "report_link_seconds" {
  description = "PERIMETER_REPORT_LINK_SECONDS: lifetime of presigned report and logo links (60..900); null keeps the code's default. The bucket policy refuses any link older than 900 s."
  type        = number
  default     = null

  validation {
    condition     = var.report_link_seconds == null || (coalesce(var.report_link_seconds, 60) >= 60 && coalesce(var.report_link_seconds, 60) <= 900)
    error_message = "report_link_seconds must be within 60..900."
  }
}

variable "scanner_heartbeat_seconds" {
  description = "PERIMETER_SCANNER_HEARTBEAT_SECONDS: heartbeat interval the pipeline asks of scanner tasks (2..900); null keeps the code's default (60)."
  type        = number
  default     = null

  validation {
    condition     = var.scanner_heartbeat_seconds == null || (coalesce(var.scanner_heartbeat_seconds, 2) >= 2 && coalesce(var.scanner_heartbeat_seconds, 2) <= 900)
    error_message = "scanner_heartbeat_seconds must be within 2..900."
  }
}

variable "target_verification_days" {
  description = "PERIMETER_TARGET_VERIFICATION_DAYS: how long a target's proof of control holds before active scans need a new verify (1..365); null keeps the code's default (30)."
  type        = number
  default     = null

  validation {
    condition     = var.target_verification_days == null || (coalesce(var.target_verification_days, 1) >= 1 && coalesce(var.target_verification_days, 1) <= 365)
    error_message = "target_verification_days must be within 1..365."
  }
}

variable "public_base_url" {
  description = "PERIMETER_PUBLIC_BASE_URL: base of status URLs in responses. Empty: the API Gateway stage URL (https://<id>.execute-api.<region>.amazonaws.com/api)."
  type        = string
  default     = ""

  validation {
    condition     = var.public_base_url == "" || can(regex("^https://[^/]+(/.*)?$", var.public_base_url))
    error_message = "public_base_url must be empty or an https:// URL."
  }
}

variable "dns_servers" {
  description = "PERIMETER_DNS_SERVERS: resolvers for every check (host[:port]); empty: the VPC / Lambda resolver."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for s in var.dns_servers : can(regex("^(\\[[0-9a-fA-F:]+\\]|[0-9.]+)(:[0-9]{1,5})?$", s))])
    error_message = "dns_servers entries must be IPv4 addresses or [IPv6] literals with an optional :port."
  }
}

variable "dns_timeout" {
  description = "PERIMETER_DNS_TIMEOUT in seconds (0 < t <= 30); null keeps the code's default."
  type        = number
  default     = null

  validation {
    condition     = var.dns_timeout == null || (coalesce(var.dns_timeout, 1) > 0 && coalesce(var.dns_timeout, 1) <= 30)
    error_message = "dns_timeout must be within (0, 30]."
  }
}

variable "allow_private_targets" {
  description = "PERIMETER_ALLOW_PRIVATE_TARGETS: CIDRs exempt from the target guard. Keep empty in production (the scanner subnets' NACL denies private ranges anyway)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.allow_private_targets : can(cidrhost(c, 0))])
    error_message = "allow_private_targets entries must be CIDRs."
  }
}

variable "scan_ports" {
  description = "PERIMETER_SCAN_PORTS: port set of the scan signal (nmap syntax or top-N); empty keeps the code's default (top-100)."
  type        = string
  default     = ""

  validation {
    condition     = can(regex("^(|top-[0-9]{1,4}|[0-9,\\-]+)$", var.scan_ports))
    error_message = "scan_ports must be empty, top-N, or a port list like 22,80,443,8000-8100."
  }
}

variable "dnsbl_zones" {
  description = "PERIMETER_DNSBL_ZONES: blocklist zones, each domain:<zone> or ip:<zone>; empty keeps the code's defaults."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for z in var.dnsbl_zones : can(regex("^(domain|ip):[a-z0-9.-]+$", z))])
    error_message = "dnsbl_zones entries must be domain:<zone> or ip:<zone>."
  }
}

variable "breach_api_url" {
  description = "PERIMETER_BREACH_API_URL: an HIBP-compatible breach API; empty: the breach signal is not_tested."
  type        = string
  default     = ""

  validation {
    condition     = var.breach_api_url == "" || can(regex("^https://", var.breach_api_url))
    error_message = "breach_api_url must be empty or an https:// URL."
  }
}

variable "breach_api_key_ssm_parameter" {
  description = "Name of an existing SSM SecureString parameter holding PERIMETER_BREACH_API_KEY (created out of band, so the key never enters Terraform state); empty: no key."
  type        = string
  default     = ""

  validation {
    condition     = var.breach_api_key_ssm_parameter == "" || can(regex("^/[A-Za-z0-9_./-]+$", var.breach_api_key_ssm_parameter))
    error_message = "breach_api_key_ssm_parameter must be empty or a parameter name starting with /."
  }
}

variable "rate_limit_per_minute" {
  description = "PERIMETER_RATE_LIMIT: default requests per minute per API key; null keeps the code's default (600)."
  type        = number
  default     = null

  validation {
    condition     = var.rate_limit_per_minute == null || (coalesce(var.rate_limit_per_minute, 1) >= 1 && coalesce(var.rate_limit_per_minute, 1) <= 1000000)
    error_message = "rate_limit_per_minute must be within 1..1000000."
  }
}

variable "max_body_bytes" {
  description = "PERIMETER_MAX_BODY_BYTES: largest accepted request body; null keeps the code's default (64 KiB)."
  type        = number
  default     = null

  validation {
    condition     = var.max_body_bytes == null || (coalesce(var.max_body_bytes, 1024) >= 1024 && coalesce(var.max_body_bytes, 1024) <= 10485760)
    error_message = "max_body_bytes must be within 1024..10485760."
  }
}

variable "ready_threshold" {
  description = "PERIMETER_READY_THRESHOLD: default score at which a scan is ready; null keeps the code's default (65)."
  type        = number
  default     = null

  validation {
    condition     = var.ready_threshold == null || (coalesce(var.ready_threshold, 0) >= 0 && coalesce(var.ready_threshold, 0) <= 100)
    error_message = "ready_threshold must be within 0..100."
  }
}

# --- Organizations: team invitations ------------------------------------------------------------

variable "mail_from" {
  description = "PERIMETER_MAIL_FROM: the SES-verified sender of team invitations; empty: inviting answers 503 until set."
  type        = string
  default     = ""

  validation {
    condition     = var.mail_from == "" || can(regex("^[^\\s@<>]{1,64}@[A-Za-z0-9.-]{1,253}$", var.mail_from))
    error_message = "mail_from must be a plain address (name@domain)."
  }
}

variable "invitation_days" {
  description = "PERIMETER_INVITATION_DAYS: how long a team invitation stays valid; null keeps the code's default (7)."
  type        = number
  default     = null

  validation {
    condition     = var.invitation_days == null || (coalesce(var.invitation_days, 1) >= 1 && coalesce(var.invitation_days, 1) <= 30)
    error_message = "invitation_days must be within 1..30."
  }
}

# --- API Gateway ----------------------------------------------------------------------------------

variable "api_throttle_rate_limit" {
  description = "Stage-wide steady-state request rate (requests per second) before API Gateway answers 429."
  type        = number
  default     = 50

  validation {
    condition     = var.api_throttle_rate_limit > 0 && var.api_throttle_rate_limit <= 10000
    error_message = "api_throttle_rate_limit must be within (0, 10000]."
  }
}

variable "api_throttle_burst_limit" {
  description = "Stage-wide burst (bucket size) before API Gateway answers 429."
  type        = number
  default     = 100

  validation {
    condition     = var.api_throttle_burst_limit >= 1 && var.api_throttle_burst_limit <= 5000
    error_message = "api_throttle_burst_limit must be within 1..5000."
  }
}

variable "manage_api_gateway_account" {
  description = "Set the region-wide API Gateway CloudWatch role (needed for execution logs). Turn off if another stack already manages it."
  type        = bool
  default     = true
}

# --- Data retention -------------------------------------------------------------------------------

variable "report_retention_days" {
  description = "Days after which objects under tenants/ (evidence, reports) expire from the reports bucket."
  type        = number
  default     = 90

  validation {
    condition     = var.report_retention_days >= 1 && var.report_retention_days <= 3650
    error_message = "report_retention_days must be within 1..3650."
  }
}

variable "log_retention_days" {
  description = "Retention of every CloudWatch log group (a value CloudWatch accepts)."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of the values CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, ...)."
  }
}

variable "deletion_protection" {
  description = "Protect the data from `terraform destroy`: DynamoDB deletion protection, and a reports bucket and image repository that are only deleted when empty. Turn off (and apply) only to tear a stage down."
  type        = bool
  default     = true
}

# --- Webhooks -------------------------------------------------------------------------------------

variable "webhook_max_concurrency" {
  description = "Most concurrent deliver_webhooks invocations the SQS event source mapping starts (2..1000)."
  type        = number
  default     = 5

  validation {
    condition     = var.webhook_max_concurrency >= 2 && var.webhook_max_concurrency <= 1000
    error_message = "webhook_max_concurrency must be within 2..1000 (the event source mapping's range)."
  }
}

# --- Scanners (Fargate) ---------------------------------------------------------------------------

variable "scanner_image_tag" {
  description = "Tag of the scanner image in the ECR repository (tags are immutable: use a new tag per build, e.g. the git sha)."
  type        = string
  default     = "initial"

  validation {
    condition     = can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.scanner_image_tag))
    error_message = "scanner_image_tag must be a valid Docker tag."
  }
}

variable "scanner_size" {
  description = "Fargate task size of one scanner task: cpu units and memory MiB (a valid Fargate combination)."
  type = object({
    cpu    = number
    memory = number
  })
  default = {
    cpu    = 256
    memory = 512
  }

  validation {
    condition = (
      (var.scanner_size.cpu == 256 && contains([512, 1024, 2048], var.scanner_size.memory)) ||
      (var.scanner_size.cpu == 512 && var.scanner_size.memory >= 1024 && var.scanner_size.memory <= 4096 && var.scanner_size.memory % 1024 == 0) ||
      (var.scanner_size.cpu == 1024 && var.scanner_size.memory >= 2048 && var.scanner_size.memory <= 8192 && var.scanner_size.memory % 1024 == 0) ||
      (var.scanner_size.cpu == 2048 && var.scanner_size.memory >= 4096 && var.scanner_size.memory <= 16384 && var.scanner_size.memory % 1024 == 0) ||
      (var.scanner_size.cpu == 4096 && var.scanner_size.memory >= 8192 && var.scanner_size.memory <= 30720 && var.scanner_size.memory % 1024 == 0)
    )
    error_message = "scanner_size must be a valid Fargate cpu/memory combination (e.g. 256/512, 512/1024, 1024/2048)."
  }
}

variable "scanner_cpu_architecture" {
  description = "CPU architecture of the scanner tasks: ARM64 (Graviton, ~20% cheaper Fargate vCPU and GB-hours; push a linux/arm64 or multi-arch image, docs/deploy.md) or X86_64 (an amd64 image)."
  type        = string
  default     = "ARM64"

  validation {
    condition     = contains(["X86_64", "ARM64"], var.scanner_cpu_architecture)
    error_message = "scanner_cpu_architecture must be X86_64 or ARM64."
  }
}

variable "scanner_capacity_provider" {
  description = "Capacity provider of the scanner tasks (the ASL's RunTask CapacityProviderStrategy and the cluster default): FARGATE_SPOT (~70% cheaper; an interruption answers Scanner.Transient and the ASL retries) or FARGATE (On-Demand, to switch Spot off)."
  type        = string
  default     = "FARGATE_SPOT"

  validation {
    condition     = contains(["FARGATE", "FARGATE_SPOT"], var.scanner_capacity_provider)
    error_message = "scanner_capacity_provider must be FARGATE or FARGATE_SPOT."
  }
}

variable "container_insights" {
  description = "Enable ECS Container Insights on the scanner cluster (billed as CloudWatch custom metrics)."
  type        = bool
  default     = false
}

# --- Network --------------------------------------------------------------------------------------

variable "vpc_cidr" {
  description = "CIDR of the scanner VPC (a /16 to /24; split into two public and two private subnets)."
  type        = string
  default     = "10.42.0.0/16"

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0)) && tonumber(split("/", var.vpc_cidr)[1]) >= 16 && tonumber(split("/", var.vpc_cidr)[1]) <= 24
    error_message = "vpc_cidr must be a CIDR between /16 and /24."
  }
}

variable "availability_zones" {
  description = "Two availability zone names for the scanner subnets; empty: the first two available zones of the region."
  type        = list(string)
  default     = []

  validation {
    condition     = length(var.availability_zones) == 0 || (length(var.availability_zones) == 2 && length(distinct(var.availability_zones)) == 2)
    error_message = "availability_zones must be empty or two distinct zone names."
  }
}

variable "nat_type" {
  description = "Egress for the scanner subnets: \"instance\" (one t4g.nano NAT instance, ~$7/month, single AZ) or \"gateway\" (managed NAT gateway, ~$33/month + $0.045/GB, highly available)."
  type        = string
  default     = "instance"

  validation {
    condition     = contains(["instance", "gateway"], var.nat_type)
    error_message = "nat_type must be instance or gateway."
  }
}

variable "nat_instance_type" {
  description = "EC2 type of the NAT instance when nat_type = \"instance\" (an arm64 Graviton type)."
  type        = string
  default     = "t4g.nano"

  validation {
    condition     = can(regex("^(t4g|c6gn|c7gn|m7g|c7g)\\.[a-z0-9]+$", var.nat_instance_type))
    error_message = "nat_instance_type must be an arm64 Graviton type such as t4g.nano."
  }
}

# --- Observability --------------------------------------------------------------------------------

variable "alarm_email" {
  description = "E-mail address subscribed to the alarm topic (confirm the subscription mail); empty: no subscription."
  type        = string
  default     = ""

  validation {
    condition     = var.alarm_email == "" || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.alarm_email))
    error_message = "alarm_email must be empty or an e-mail address."
  }
}

variable "log_level" {
  description = "Level of Perimeter's own log lines in the Lambdas (PERIMETER_LOG_LEVEL and the functions' application log level); third-party libraries log at WARN and above."
  type        = string
  default     = "INFO"

  validation {
    condition     = contains(["DEBUG", "INFO", "WARN", "ERROR"], var.log_level)
    error_message = "log_level must be DEBUG, INFO, WARN or ERROR."
  }
}

variable "scan_failure_alarm_percent" {
  description = "Alarm when more than this percentage of the scans that ended failed, in 2 of 3 consecutive 5-minute periods."
  type        = number
  default     = 10

  validation {
    condition     = var.scan_failure_alarm_percent >= 0 && var.scan_failure_alarm_percent < 100
    error_message = "scan_failure_alarm_percent must be at least 0 and below 100."
  }
}

variable "webhook_failure_alarm_percent" {
  description = "Alarm when more than this percentage of webhook attempts failed, in 2 of 3 consecutive 5-minute periods of at least 20 attempts (many endpoints down, or the sender broken)."
  type        = number
  default     = 50

  validation {
    condition     = var.webhook_failure_alarm_percent > 0 && var.webhook_failure_alarm_percent < 100
    error_message = "webhook_failure_alarm_percent must be above 0 and below 100."
  }
}

variable "xray_tracing" {
  description = "Trace API Gateway, the Lambdas and the state machine with X-Ray (billed per trace)."
  type        = bool
  default     = false
}

variable "audit_retention_days" {
  description = "PERIMETER_AUDIT_RETENTION_DAYS: how long audit events are kept (1..3650); null keeps the code's default (365)."
  type        = number
  default     = null

  validation {
    condition     = var.audit_retention_days == null || (coalesce(var.audit_retention_days, 1) >= 1 && coalesce(var.audit_retention_days, 1) <= 3650)
    error_message = "audit_retention_days must be within 1..3650."
  }
}

variable "registry_auth_key" {
  description = "PERIMETER_REGISTRY_AUTH_KEY: key sealing the registry passwords of container scans (32+ characters): the API seals, only the scanner task opens. null: container scans of private registries other than ECR are refused (no key to seal with)."
  type        = string
  sensitive   = true
  default     = null

  validation {
    condition     = var.registry_auth_key == null || length(coalesce(var.registry_auth_key, "x")) >= 32
    error_message = "registry_auth_key must be at least 32 characters (Settings.registry_auth_key min_length)."
  }
}

variable "sa_link_days" {
  description = "PERIMETER_SA_LINK_DAYS: how long a scan's self-assessment link stays usable after the scan is created (1..3650); null keeps the code's default (90)."
  type        = number
  default     = null

  validation {
    condition     = var.sa_link_days == null || (coalesce(var.sa_link_days, 1) >= 1 && coalesce(var.sa_link_days, 1) <= 3650)
    error_message = "sa_link_days must be within 1..3650."
  }
}
