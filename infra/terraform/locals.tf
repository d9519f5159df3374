# The deployment contract, written out once for Terraform. tests/infra/test_contract.py checks every
# line of this file against chalicelib/core/contract.py (handlers, timeouts, memory, ASL
# placeholders, scanner env) and chalicelib/core/settings.py (ENV_VARS).

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = var.region

  # contract.ALL_LAMBDAS: name -> Handler string, timeout (s), memory (MiB), ASL placeholder.
  lambdas = {
    api                  = { handler = "app.app", timeout = 30, memory = 512, asl_placeholder = null }
    mark_scanning        = { handler = "app.mark_scanning", timeout = 30, memory = 512, asl_placeholder = "mark_scanning_arn" }
    score_scan           = { handler = "app.score_scan", timeout = 60, memory = 512, asl_placeholder = "score_scan_arn" }
    render_report        = { handler = "app.render_report", timeout = 120, memory = 1024, asl_placeholder = "render_report_arn" }
    finalize_scan        = { handler = "app.finalize_scan", timeout = 30, memory = 512, asl_placeholder = "finalize_scan_arn" }
    mark_failed          = { handler = "app.mark_failed", timeout = 30, memory = 512, asl_placeholder = "mark_failed_arn" }
    deliver_webhooks     = { handler = "app.deliver_webhooks", timeout = 60, memory = 512, asl_placeholder = null }
    sweep_webhook_outbox = { handler = "app.sweep_webhook_outbox", timeout = 60, memory = 512, asl_placeholder = null }
    sweep_overdue_scans  = { handler = "app.sweep_overdue_scans", timeout = 60, memory = 512, asl_placeholder = null }
    scanner_task_stopped = { handler = "app.scanner_task_stopped", timeout = 30, memory = 256, asl_placeholder = null }
    refresh_intel        = { handler = "app.refresh_intel", timeout = 300, memory = 512, asl_placeholder = null }
  }
  pipeline_lambdas = { for k, v in local.lambdas : k => v if v.asl_placeholder != null }
  webhook_consumer = "deliver_webhooks"
  # Scheduled sweepers (sweepers.tf): Lambda name -> EventBridge rate (contract.SCHEDULES).
  schedules = {
    sweep_webhook_outbox = "rate(1 minute)"
    sweep_overdue_scans  = "rate(1 minute)"
    refresh_intel        = "rate(1 day)" # intel.tf
  }

  # Names are strings built here, not resource attributes, so that the Lambdas can carry the state
  # machine ARN and the API Gateway body can carry the api Lambda's invoke ARN without a cycle.
  function_names     = { for k, _ in local.lambdas : k => "${var.prefix}-${replace(k, "_", "-")}" }
  function_arns      = { for k, name in local.function_names : k => "arn:${local.partition}:lambda:${local.region}:${local.account_id}:function:${name}" }
  api_invoke_arn     = "arn:${local.partition}:apigateway:${local.region}:lambda:path/2015-03-31/functions/${local.function_arns["api"]}/invocations"
  state_machine_name = "${var.prefix}-scan-pipeline"
  state_machine_arn  = "arn:${local.partition}:states:${local.region}:${local.account_id}:stateMachine:${local.state_machine_name}"
  cluster_name       = "${var.prefix}-scanners"
  api_stage          = "api"
  api_url            = "https://${aws_api_gateway_rest_api.api.id}.execute-api.${local.region}.amazonaws.com/${local.api_stage}"

  # chalicelib/core/settings.py ENV_VARS for the Lambdas. Null or empty values are left out so that the
  # code's own default applies. AWS_REGION is set by the Lambda runtime (a reserved name there);
  # PERIMETER_PORT, PERIMETER_BOOTSTRAP_API_KEY and AWS_ENDPOINT_URL are local-stack only.
  # Every Lambda gets the same settings: Settings is one model validated once per process, and
  # PERIMETER_KEY_PEPPER is a required field of it. Least privilege is in the IAM roles.
  lambda_settings = {
    PERIMETER_STAGE                     = var.stage
    PERIMETER_TABLE                     = aws_dynamodb_table.main.name
    PERIMETER_BUCKET                    = aws_s3_bucket.reports.bucket
    PERIMETER_WEBHOOK_QUEUE_URL         = aws_sqs_queue.webhooks.url
    PERIMETER_WEBHOOK_DLQ_URL           = aws_sqs_queue.webhooks_dlq.url
    PERIMETER_STATE_MACHINE_ARN         = local.state_machine_arn
    PERIMETER_CLUSTER                   = local.cluster_name
    PERIMETER_PUBLIC_BASE_URL           = var.public_base_url != "" ? var.public_base_url : local.api_url
    PERIMETER_DNS_SERVERS               = join(",", var.dns_servers)
    PERIMETER_DNS_TIMEOUT               = var.dns_timeout == null ? null : tostring(var.dns_timeout)
    PERIMETER_ALLOW_PRIVATE_TARGETS     = join(",", var.allow_private_targets)
    PERIMETER_SCAN_PORTS                = var.scan_ports
    PERIMETER_DNSBL_ZONES               = join(",", var.dnsbl_zones)
    PERIMETER_BREACH_API_URL            = var.breach_api_url
    PERIMETER_RATE_LIMIT                = var.rate_limit_per_minute == null ? null : tostring(var.rate_limit_per_minute)
    PERIMETER_MAX_BODY_BYTES            = var.max_body_bytes == null ? null : tostring(var.max_body_bytes)
    PERIMETER_READY_THRESHOLD           = var.ready_threshold == null ? null : tostring(var.ready_threshold)
    PERIMETER_SCANNER_HEARTBEAT_SECONDS = var.scanner_heartbeat_seconds == null ? null : tostring(var.scanner_heartbeat_seconds)
    PERIMETER_TARGET_VERIFICATION_DAYS  = var.target_verification_days == null ? null : tostring(var.target_verification_days)
    PERIMETER_AUDIT_RETENTION_DAYS      = var.audit_retention_days == null ? null : tostring(var.audit_retention_days)
    PERIMETER_SA_LINK_DAYS              = var.sa_link_days == null ? null : tostring(var.sa_link_days)
    PERIMETER_REPORT_LINK_SECONDS       = var.report_link_seconds == null ? null : tostring(var.report_link_seconds)
    PERIMETER_LOG_LEVEL                 = var.log_level
    PERIMETER_SERVICE_NAME              = var.prefix # the `service` key of log lines and dimension of metrics
    PERIMETER_METRICS                   = "emf"      # CloudWatch Embedded Metric Format on stdout
    # Exposure intelligence (intel.tf): refreshed bundles in the reports bucket; the feed URLs default in the code.
    PERIMETER_INTEL_S3_PREFIX    = local.intel_prefix
    PERIMETER_INTEL_DIR          = null # a local directory: the embedded stack and the CLI only
    PERIMETER_INTEL_KEV_URL      = var.intel_kev_url
    PERIMETER_INTEL_EOL_URL      = var.intel_eol_url
    PERIMETER_INTEL_RELEASES_URL = var.intel_releases_url
    # Team invitations (chalicelib/organizations): the SES sender and the invitation lifetime.
    PERIMETER_MAIL_FROM       = var.mail_from
    PERIMETER_INVITATION_DAYS = var.invitation_days == null ? null : tostring(var.invitation_days)
  }
  # Secrets, kept apart so that filtering the map above never touches a sensitive value. Whether the
  # optional report signing key is set is not itself a secret (nonsensitive on the null test only).
  lambda_secrets = merge(
    {
      PERIMETER_KEY_PEPPER         = var.key_pepper
      PERIMETER_WEBHOOK_SECRET_KEY = var.webhook_secret_key
    },
    nonsensitive(var.report_signing_key == null) ? {} : { PERIMETER_REPORT_SIGNING_KEY = var.report_signing_key },
    nonsensitive(var.registry_auth_key == null) ? {} : { PERIMETER_REGISTRY_AUTH_KEY = var.registry_auth_key },
  )
  lambda_env = merge(
    { for k, v in local.lambda_settings : k => v if v != null && v != "" },
    local.lambda_secrets,
  )

  # contract.SCANNER_CONTAINER: the container name the ASL's RunTask overrides address.
  scanner_container = "scanner"

  # contract.SCANNER_STATIC_ENV on the task definition. PERIMETER_BREACH_API_KEY comes from SSM
  # (task definition `secrets`), never as plain text; the scanner gets no key pepper.
  scanner_settings = {
    PERIMETER_BUCKET                = aws_s3_bucket.reports.bucket
    PERIMETER_DNS_SERVERS           = join(",", var.dns_servers)
    PERIMETER_SCAN_PORTS            = var.scan_ports
    PERIMETER_DNSBL_ZONES           = join(",", var.dnsbl_zones)
    PERIMETER_BREACH_API_URL        = var.breach_api_url
    PERIMETER_ALLOW_PRIVATE_TARGETS = join(",", var.allow_private_targets)
    AWS_REGION                      = local.region
    PERIMETER_INTEL_S3_PREFIX       = local.intel_prefix
  }
  scanner_secrets = merge(
    var.breach_api_key_ssm_parameter == "" ? {} : {
      PERIMETER_BREACH_API_KEY = "arn:${local.partition}:ssm:${local.region}:${local.account_id}:parameter${var.breach_api_key_ssm_parameter}"
    },
    # The registry-password key reaches the scanner from an SSM SecureString Terraform writes (scanners.tf).
    nonsensitive(var.registry_auth_key == null) ? {} : { PERIMETER_REGISTRY_AUTH_KEY = aws_ssm_parameter.registry_auth_key[0].arn },
  )

  # The ASL file is referenced where it lives, never copied (DESIGN.md section 1).
  asl_path = "${path.module}/../../chalicelib/pipeline/scan-pipeline.asl.json"
  # templatefile() variables: exactly contract.ASL_PLACEHOLDERS (the Lambda ARNs, then
  # contract.ASL_INFRA_PLACEHOLDERS).
  asl_lambda_vars = { for k, v in local.pipeline_lambdas : v.asl_placeholder => aws_lambda_function.fn[k].arn }
  asl_infra_vars = {
    cluster_arn                 = aws_ecs_cluster.scanners.arn
    scanner_task_definition_arn = aws_ecs_task_definition.scanner.arn
    scanner_subnet_1            = aws_subnet.private[0].id
    scanner_subnet_2            = aws_subnet.private[1].id
    scanner_security_group      = aws_security_group.scanner.id
    scanner_capacity_provider   = var.scanner_capacity_provider
  }
  asl_vars = merge(local.asl_lambda_vars, local.asl_infra_vars)

  # S3 key layout of contract.py (scan_prefix, evidence_key, report_key).
  tenants_prefix    = "tenants/"
  evidence_key_glob = "tenants/*/scans/*/evidence/*"
  report_key_glob   = "tenants/*/scans/*/report.*"
}
