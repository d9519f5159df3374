# API Gateway REST API, stage "api" (so https://<host>/api/v1/...), Lambda proxy integration to the
# Chalice app (handler app.app).
#
# Chalice routes on requestContext.resourcePath, so a single {proxy+} resource would reach the
# function as "/{proxy+}" and match no route. The API therefore has one resource per Chalice route
# (`make package` writes them to dist/api-routes.json from app.app.routes), each with ANY method:
# an unknown method reaches Chalice, which answers 405 itself; unknown paths get a problem+json 404.

locals {
  api_routes = jsondecode(file(var.api_routes_file)).paths

  api_integration = {
    type                = "aws_proxy"
    httpMethod          = "POST"
    uri                 = local.api_invoke_arn
    passthroughBehavior = "when_no_match"
    timeoutInMillis     = 29000
  }

  problem_headers = {
    "gatewayresponse.header.Content-Type"           = "'application/problem+json'"
    "gatewayresponse.header.Cache-Control"          = "'no-store'"
    "gatewayresponse.header.X-Content-Type-Options" = "'nosniff'"
  }

  # Same body shape as chalicelib/api/http.py problem(): type, title, status, detail, code, error.
  # Every response type a request can meet before (or instead of) the Lambda is problem+json; the
  # Chalice app's own 405/415 are made problem+json in the app (http.chalice_errors_as_problems).
  gateway_problems = {
    MISSING_AUTHENTICATION_TOKEN = { status = 404, code = "not-found", title = "Not found", detail = "No such resource." }
    RESOURCE_NOT_FOUND           = { status = 404, code = "not-found", title = "Not found", detail = "No such resource." }
    UNSUPPORTED_MEDIA_TYPE       = { status = 415, code = "unsupported-media-type", title = "Unsupported media type", detail = "Send the body as application/json." }
    REQUEST_TOO_LARGE            = { status = 413, code = "payload-too-large", title = "Request body too large", detail = "The request body is too large." }
    BAD_REQUEST_BODY             = { status = 400, code = "bad-request", title = "Bad request", detail = "The request body was refused." }
    BAD_REQUEST_PARAMETERS       = { status = 400, code = "bad-request", title = "Bad request", detail = "The request parameters were refused." }
    THROTTLED                    = { status = 429, code = "rate-limited", title = "Rate limit exceeded", detail = "Too many requests for this API stage; retry later." }
    QUOTA_EXCEEDED               = { status = 429, code = "rate-limited", title = "Rate limit exceeded", detail = "The request quota is exhausted; retry later." }
    ACCESS_DENIED                = { status = 403, code = "forbidden", title = "Forbidden", detail = "The request was refused." }
    WAF_FILTERED                 = { status = 403, code = "forbidden", title = "Forbidden", detail = "The request was refused by the firewall." }
    INTEGRATION_TIMEOUT          = { status = 504, code = "gateway-timeout", title = "Gateway timeout", detail = "The service did not answer in time; retry later." }
    # Any other 4xx keeps its own status (none set here), so the body cannot state it.
    DEFAULT_4XX = { status = null, code = "request-refused", title = "Request refused", detail = "The API gateway refused the request." }
    DEFAULT_5XX = { status = 503, code = "service-unavailable", title = "Service temporarily unavailable", detail = "The API gateway could not reach the service." }
  }

  gateway_responses = {
    for name, p in local.gateway_problems : name => merge(
      p.status == null ? {} : { statusCode = tostring(p.status) },
      {
        responseParameters = merge(local.problem_headers, p.status == 429 ? { "gatewayresponse.header.Retry-After" = "'1'" } : {})
        responseTemplates = {
          "application/json" = jsonencode(merge(
            { type = "urn:perimeter:problem:${p.code}", title = p.title, detail = p.detail, code = p.code, error = p.detail },
            p.status == null ? {} : { status = p.status },
          ))
        }
      },
    )
  }

  openapi = {
    openapi = "3.0.1"
    info    = { title = "${var.prefix}-api", version = "v1" }
    paths = {
      for path in local.api_routes : path => {
        x-amazon-apigateway-any-method = {
          parameters = [
            for match in regexall("\\{([A-Za-z0-9_]+)\\+?\\}", path) : {
              name = match[0], in = "path", required = true, schema = { type = "string" }
            }
          ]
          responses                       = { "200" = { description = "Whatever the Chalice app answers (Lambda proxy)" } }
          x-amazon-apigateway-integration = local.api_integration
        }
      }
    }
    x-amazon-apigateway-gateway-responses = local.gateway_responses
  }
}

resource "aws_api_gateway_rest_api" "api" {
  name               = "${var.prefix}-api"
  description        = "Perimeter public API (Chalice app, Lambda proxy integration)"
  body               = jsonencode(local.openapi)
  binary_media_types = ["application/pdf"] # app.py: the CertIQ dialect streams its report PDF

  endpoint_configuration {
    types = ["REGIONAL"]
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_api_gateway_deployment" "api" {
  rest_api_id = aws_api_gateway_rest_api.api.id

  triggers = {
    redeployment = sha1(jsonencode(local.openapi))
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_api_gateway_stage" "api" {
  #checkov:skip=CKV_AWS_120:Responses are per tenant and per key; a cache cluster ($0.02/h+) would risk serving one caller's data to another.
  #checkov:skip=CKV_AWS_73:X-Ray is opt-in (var.xray_tracing): billed per trace and not needed to operate the service.
  #checkov:skip=CKV2_AWS_29:WAF ($5/month + rules) is left to operators; stage throttling and per-key rate limits in the app bound abuse.
  #checkov:skip=CKV2_AWS_4:Logging level is ERROR, but detailed (per-method) metrics are off: ~7 custom metrics per route (~$40/month); stage-level metrics stay on for free.
  #checkov:skip=CKV2_AWS_51:Partners are API clients authenticated by bearer keys, not mutual TLS to a backend.
  deployment_id         = aws_api_gateway_deployment.api.id
  rest_api_id           = aws_api_gateway_rest_api.api.id
  stage_name            = local.api_stage
  xray_tracing_enabled  = var.xray_tracing
  cache_cluster_enabled = false

  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.this["api_access"].arn
    format = jsonencode({
      requestId        = "$context.requestId"
      extendedId       = "$context.extendedRequestId"
      ip               = "$context.identity.sourceIp"
      requestTime      = "$context.requestTimeEpoch"
      httpMethod       = "$context.httpMethod"
      resourcePath     = "$context.resourcePath"
      path             = "$context.path"
      status           = "$context.status"
      protocol         = "$context.protocol"
      responseLength   = "$context.responseLength"
      latency          = "$context.responseLatency"
      integrationError = "$context.integration.error"
      errorType        = "$context.error.responseType"
    })
  }

  depends_on = [aws_api_gateway_account.this]
}

resource "aws_api_gateway_method_settings" "all" {
  #checkov:skip=CKV_AWS_225:Caching is off on purpose: responses are per tenant (see the stage).
  rest_api_id = aws_api_gateway_rest_api.api.id
  stage_name  = aws_api_gateway_stage.api.stage_name
  method_path = "*/*"

  settings {
    throttling_rate_limit  = var.api_throttle_rate_limit
    throttling_burst_limit = var.api_throttle_burst_limit
    # Per-method metrics are billed as custom metrics (~7 per route); stage metrics stay free.
    metrics_enabled      = false
    logging_level        = "ERROR"
    data_trace_enabled   = false
    caching_enabled      = false
    cache_data_encrypted = true
  }
}

# Execution logs (logging_level above) need a region-wide CloudWatch role for API Gateway.
data "aws_iam_policy_document" "api_gateway_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["apigateway.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "api_gateway_logs" {
  count              = var.manage_api_gateway_account ? 1 : 0
  name               = "${var.prefix}-apigateway-logs"
  assume_role_policy = data.aws_iam_policy_document.api_gateway_assume.json
}

# The AWS managed policy made for exactly this role (it must be able to create API Gateway's own
# execution log groups, whose names it chooses).
resource "aws_iam_role_policy_attachment" "api_gateway_logs" {
  count      = var.manage_api_gateway_account ? 1 : 0
  role       = aws_iam_role.api_gateway_logs[0].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"
}

resource "aws_api_gateway_account" "this" {
  count               = var.manage_api_gateway_account ? 1 : 0
  cloudwatch_role_arn = aws_iam_role.api_gateway_logs[0].arn
  depends_on          = [aws_iam_role_policy_attachment.api_gateway_logs]
}
