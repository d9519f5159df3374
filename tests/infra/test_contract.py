"""Terraform against the code: Lambda table, settings, ASL placeholders, key schema, queues, IAM.

Every expectation is imported from the code (contract.py, settings.py, dynamodb.py,
webhooks/queue_config.py, local/provision.py), never copied, so a change on either side fails here.
"""

from __future__ import annotations

import importlib
import json
import re
import typing
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from chalicelib.aws.dynamodb import ATTRIBUTE_DEFINITIONS, KEY_SCHEMA, TTL_ATTRIBUTE
from chalicelib.core import contract
from chalicelib.core.settings import ENV_VARS, Settings
from chalicelib.local.provision import ensure_queues
from chalicelib.scans import keys
from tests.infra.terraform_config import ROOT, TERRAFORM_DIR, Config, load

pytest.importorskip("hcl2", reason="python-hcl2 is not installed (requirements-dev.txt)")

ASL_FILE = ROOT / "chalicelib" / "pipeline" / "scan-pipeline.asl.json"
PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")
LOCAL_ONLY = {"PERIMETER_PORT", "PERIMETER_BOOTSTRAP_API_KEY", "AWS_ENDPOINT_URL", "PERIMETER_DATA_DIR",
              "PERIMETER_SELF_ENDPOINTS"}
LAMBDA_RUNTIME_PROVIDED = {"AWS_REGION"}  # reserved on Lambda: the runtime sets it
SCANNER_ONLY = {"PERIMETER_BREACH_API_KEY"}  # a third-party credential only the scanner task needs

# Identity-policy statements allowed to name Resource "*": (policy document, sid) -> why.
ALLOWED_WILDCARDS = {
    ("scanner_task", "SendTaskResults"): "states:SendTask* have no resource-level permissions",
    ("scanner_execution", "EcrAuthorizationToken"): "ecr:GetAuthorizationToken is account-wide",
    ("scanner_task", "EcrTokenForScannedImages"): "ecr:GetAuthorizationToken is account-wide (container scans)",
    ("state_machine", "LogDelivery"): "CloudWatch Logs delivery APIs have no resource-level permissions",
    ("state_machine", "XRayWrite"): "X-Ray has no resource-level permissions (only with var.xray_tracing)",
    ("lambda", "XRayWrite"): "X-Ray has no resource-level permissions (only with var.xray_tracing)",
    ("lambda", "ListScannerTasks"): "ecs:ListTasks has no resource type; confined by the ecs:cluster condition",
    ("lambda", "FailStoppedScannerTasks"): "states:SendTaskFailure has no resource-level permissions",
}


@pytest.fixture(scope="module")
def tf() -> Config:
    return load()


def _ref(expression: str) -> str:
    """`${local.x}` -> `local.x`."""
    match = re.fullmatch(r"\$\{(.+)\}", expression)
    assert match, f"expected an expression, got {expression!r}"
    return match.group(1)


def _secret_names(tf: Config) -> set[str]:
    """Variable names in the `lambda_secrets` expression (a merge with a conditional part)."""
    return set(re.findall(r"\b([A-Z][A-Z0-9_]+)\s*=", tf.locals["lambda_secrets"]))


def _secret_fields() -> set[str]:
    hints = typing.get_type_hints(Settings)
    return {name for name, hint in hints.items() if SecretStr in (typing.get_args(hint) or (hint,))}


def _asl_states(machine: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for name, state in machine["States"].items():
        found.append((name, state))
        for branch in state.get("Branches", []):
            found += _asl_states(branch)
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor:
            found += _asl_states(processor)
    return found


# --- Lambdas -------------------------------------------------------------------------------------

def test_lambda_table_matches_contract(tf: Config) -> None:
    expected = {spec.name: {"handler": spec.handler, "timeout": spec.timeout, "memory": spec.memory,
                            "asl_placeholder": spec.asl_placeholder} for spec in contract.ALL_LAMBDAS}
    assert tf.locals["lambdas"] == expected
    assert tf.locals["webhook_consumer"] == contract.WEBHOOK_CONSUMER.name


def test_every_lambda_is_built_from_the_table_with_its_own_role(tf: Config) -> None:
    fn = tf.resource("aws_lambda_function", "fn")
    assert _ref(fn["for_each"]) == "local.lambdas"
    assert fn["handler"] == "${each.value.handler}"
    assert fn["timeout"] == "${each.value.timeout}"
    assert fn["memory_size"] == "${each.value.memory}"
    assert fn["runtime"] == "python3.11"
    assert fn["filename"] == "${var.lambda_zip}"
    assert fn["role"] == "${aws_iam_role.lambda[each.key].arn}"
    assert _ref(tf.resource("aws_iam_role", "lambda")["for_each"]) == "local.lambdas"
    policy = tf.resource("aws_iam_role_policy", "lambda")
    assert policy["role"] == "${aws_iam_role.lambda[each.key].id}"
    assert policy["policy"] == "${data.aws_iam_policy_document.lambda[each.key].json}"
    assert set(tf.locals["lambda_statements"]) == set(tf.locals["lambdas"]), "one statement list per function"


def test_lambda_zip_default_is_what_make_package_builds(tf: Config) -> None:
    default = tf.variables["lambda_zip"]["default"]
    assert (TERRAFORM_DIR / default).resolve() == ROOT / "dist" / "lambda.zip"
    routes = tf.variables["api_routes_file"]["default"]
    assert (TERRAFORM_DIR / routes).resolve() == ROOT / "dist" / "api-routes.json"


def test_every_sweeper_is_scheduled_as_the_contract_says_and_never_retried(tf: Config) -> None:
    assert tf.locals["schedules"] == contract.SCHEDULES
    assert set(contract.SCHEDULES) <= {spec.name for spec in contract.ALL_LAMBDAS}
    rule = tf.resource("aws_cloudwatch_event_rule", "sweeper")
    assert (rule["for_each"], rule["schedule_expression"]) == ("${local.schedules}", "${each.value}")
    target = tf.resource("aws_cloudwatch_event_target", "sweeper")
    assert target["arn"] == "${aws_lambda_function.fn[each.key].arn}"
    assert target["retry_policy"][0]["maximum_retry_attempts"] == 0
    permission = tf.resource("aws_lambda_permission", "sweeper")
    assert permission["principal"] == "events.amazonaws.com"
    assert permission["source_arn"] == "${aws_cloudwatch_event_rule.sweeper[each.key].arn}"
    assert tf.resource("aws_lambda_function_event_invoke_config", "sweeper")["maximum_retry_attempts"] == 0


def test_app_defines_every_handler_of_the_contract() -> None:
    app_module = importlib.import_module("app")
    missing = [spec.handler for spec in contract.ALL_LAMBDAS if not hasattr(app_module, spec.handler.split(".")[1])]
    if missing:
        pytest.skip(f"app.py does not define {missing} yet (another issue's work)")
    for spec in contract.ALL_LAMBDAS:
        module, _, name = spec.handler.partition(".")
        assert module == "app"
        assert callable(getattr(app_module, name)), spec.handler


# --- Settings -> environment ----------------------------------------------------------------------

def test_every_setting_is_set_on_the_lambdas(tf: Config) -> None:
    lambda_env = set(tf.locals["lambda_settings"]) | _secret_names(tf)
    needed = set(ENV_VARS) - LOCAL_ONLY - LAMBDA_RUNTIME_PROVIDED - SCANNER_ONLY
    assert needed - lambda_env == set(), "settings.py ENV_VARS the Lambdas do not get"
    assert lambda_env - set(ENV_VARS) == set(), "variables Settings does not read"
    assert not lambda_env & (LOCAL_ONLY | LAMBDA_RUNTIME_PROVIDED | SCANNER_ONLY)
    fn = tf.resource("aws_lambda_function", "fn")
    assert fn["environment"] == [{"variables": "${local.lambda_env}"}]
    env_expr = tf.locals["lambda_env"]
    assert "local.lambda_settings" in env_expr and "local.lambda_secrets" in env_expr


def test_secret_settings_come_from_sensitive_variables(tf: Config) -> None:
    secret_vars = {var for var, fld in ENV_VARS.items() if fld in _secret_fields()} - LOCAL_ONLY
    assert "PERIMETER_KEY_PEPPER" in secret_vars
    lambda_secrets = _secret_names(tf)
    assert secret_vars - SCANNER_ONLY == lambda_secrets
    assert not secret_vars & set(tf.locals["lambda_settings"]), "a secret among the plain settings"
    secrets_expr = tf.locals["lambda_secrets"]
    for var in lambda_secrets:
        source = re.search(rf"{var}\s*=\s*var\.([a-z_]+)", secrets_expr)
        assert source, f"{var} must come straight from a variable"
        assert tf.variables[source.group(1)].get("sensitive") is True, f"var.{source.group(1)} must be sensitive"


def test_scanner_task_gets_exactly_the_static_env(tf: Config) -> None:
    assert tf.locals["scanner_container"] == contract.SCANNER_CONTAINER
    plain = set(tf.locals["scanner_settings"])
    secret = set(re.findall(r"\b([A-Z][A-Z0-9_]+)\s*=", tf.locals["scanner_secrets"]))
    assert plain | secret == set(contract.SCANNER_STATIC_ENV)
    # The breach API key and the registry-password key come from SSM, never as plain text.
    assert secret == SCANNER_ONLY | {"PERIMETER_REGISTRY_AUTH_KEY"}
    assert not plain & set(contract.SCANNER_TASK_ENV), "per-task variables belong to the ASL overrides"
    task = tf.resource("aws_ecs_task_definition", "scanner")
    definitions = task["container_definitions"]
    assert "local.scanner_container" in definitions and "local.scanner_settings" in definitions
    assert "local.scanner_secrets" in definitions and "valueFrom" in definitions


def test_lambda_environment_output_holds_no_secret(tf: Config) -> None:
    value = tf.outputs["lambda_environment"]["value"]
    assert "local.lambda_settings" in value
    assert "secret" not in value.lower() and "pepper" not in value.lower()


# --- ASL ----------------------------------------------------------------------------------------

def test_asl_file_is_referenced_not_copied(tf: Config) -> None:
    path = tf.locals["asl_path"].replace("${path.module}", str(TERRAFORM_DIR))
    assert Path(path).resolve() == ASL_FILE
    machine = tf.resource("aws_sfn_state_machine", "pipeline")
    assert machine["definition"] == "${templatefile(local.asl_path, local.asl_vars)}"
    assert not list(TERRAFORM_DIR.rglob("*.asl.json")), "no copy of the ASL under infra/terraform"


def test_templatefile_passes_exactly_the_asl_placeholders(tf: Config) -> None:
    passed = set(tf.locals["asl_infra_vars"])
    passed |= {v["asl_placeholder"] for v in tf.locals["lambdas"].values() if v["asl_placeholder"]}
    assert tf.locals["asl_vars"] == "${merge(local.asl_lambda_vars, local.asl_infra_vars)}"
    assert passed == set(contract.ASL_PLACEHOLDERS)
    in_file = set(PLACEHOLDER.findall(ASL_FILE.read_text()))
    if not in_file and "placeholder" in json.loads(ASL_FILE.read_text()).get("Comment", "").lower():
        pytest.skip("the ASL file is still the placeholder of the pipeline issue (no ${...} yet)")
    assert in_file - passed == set(), "placeholders in the ASL that Terraform does not pass"
    assert passed - in_file == set(), "variables Terraform passes that the ASL does not use"


def test_every_lambda_of_the_asl_is_a_pipeline_lambda_in_terraform(tf: Config) -> None:
    machine = json.loads(ASL_FILE.read_text())
    by_placeholder = {spec.asl_placeholder: spec for spec in contract.PIPELINE_LAMBDAS}
    lambda_tasks = []
    for name, state in _asl_states(machine):
        if state.get("Type") != "Task":
            continue
        resource = str(state.get("Resource", ""))
        assert not resource.startswith("arn:aws:lambda:"), f"{name}: hard-coded Lambda ARN {resource}"
        if ":lambda:invoke" in resource:
            resource = str(state.get("Parameters", {}).get("FunctionName", ""))
        match = PLACEHOLDER.fullmatch(resource)
        if match and match.group(1) in by_placeholder:
            lambda_tasks.append((name, match.group(1)))
        elif match:
            pytest.fail(f"{name}: Resource {resource} is no pipeline Lambda of contract.PIPELINE_LAMBDAS")
    if not lambda_tasks:
        pytest.skip("the ASL file has no Lambda task yet (placeholder of the pipeline issue)")
    for name, placeholder in lambda_tasks:
        spec = by_placeholder[placeholder]
        assert tf.locals["lambdas"][spec.name]["asl_placeholder"] == placeholder, name
        assert tf.locals["lambdas"][spec.name]["handler"] == spec.handler, name
    assert {p for _, p in lambda_tasks} == set(by_placeholder), "a pipeline Lambda the ASL never runs"


def test_state_machine_role_invokes_only_pipeline_lambdas(tf: Config) -> None:
    statements = {s["sid"]: s for s in tf.data["aws_iam_policy_document"]["state_machine"]["statement"]}
    invoke = statements["InvokePipelineLambdas"]
    assert invoke["actions"] == ["lambda:InvokeFunction"]
    assert "local.pipeline_lambdas" in str(invoke["resources"])
    only_pipeline = r"for k, v in local\.lambdas : k => v if v\.asl_placeholder != null"
    assert re.search(only_pipeline, tf.locals["pipeline_lambdas"])
    assert statements["RunScannerTasks"]["actions"] == ["ecs:RunTask"]
    assert statements["PassScannerRoles"]["actions"] == ["iam:PassRole"]


# --- Data -----------------------------------------------------------------------------------------

def test_table_key_schema_matches_the_adapter(tf: Config) -> None:
    table = tf.resource("aws_dynamodb_table", "main")
    keys = {k["KeyType"]: k["AttributeName"] for k in KEY_SCHEMA}
    assert (table["hash_key"], table.get("range_key")) == (keys["HASH"], keys.get("RANGE"))
    attributes = sorted((a["name"], a["type"]) for a in table["attribute"])
    assert attributes == sorted((a["AttributeName"], a["AttributeType"]) for a in ATTRIBUTE_DEFINITIONS)
    assert table["billing_mode"] == "PAY_PER_REQUEST"
    assert table["ttl"] == [{"attribute_name": TTL_ATTRIBUTE, "enabled": True}]
    assert table["point_in_time_recovery"] == [{"enabled": True}]
    assert table["server_side_encryption"][0]["enabled"] is True
    assert "global_secondary_index" not in table and "local_secondary_index" not in table


def test_reports_bucket_denies_plain_http_and_presigned_links_older_than_15_minutes(tf: Config) -> None:
    statements = {s["sid"]: s for s in tf.data["aws_iam_policy_document"]["reports_bucket"]["statement"]}
    tls = statements["DenyPlainHttp"]
    assert tls["effect"] == "Deny" and tls["actions"] == ["s3:*"]
    assert tls["condition"] == [{"test": "Bool", "variable": "aws:SecureTransport", "values": ["false"]}]
    age = statements["DenyPresignedOlderThan15Minutes"]
    assert age["effect"] == "Deny"
    assert age["condition"][0]["test"] == "NumericGreaterThan"
    assert age["condition"][0]["variable"] == "s3:signatureAge"
    limit_ms = int(age["condition"][0]["values"][0])
    assert limit_ms == 15 * 60 * 1000
    # The links the code issues must fit under the bound (Settings caps their lifetime).
    link = Settings.model_fields.get("report_link_seconds")
    if link is not None:
        caps = [m.le for m in link.metadata if getattr(m, "le", None) is not None]
        assert caps and max(caps) * 1000 <= limit_ms


def test_old_tenant_objects_expire(tf: Config) -> None:
    rules = tf.resource("aws_s3_bucket_lifecycle_configuration", "reports")["rule"]
    tenant_rule = next(r for r in rules if r["id"] == "expire-tenant-objects")
    prefix = tenant_rule["filter"][0]["prefix"]
    assert prefix == "${local.tenants_prefix}" and tf.locals["tenants_prefix"] == "tenants/"
    assert keys.scan_prefix("t", "s").startswith(tf.locals["tenants_prefix"])
    assert keys.evidence_key("t", "s", "network").startswith(tf.locals["tenants_prefix"])
    assert tenant_rule["expiration"] == [{"days": "${var.report_retention_days}"}]


def test_s3_globs_match_the_contract_key_layout(tf: Config) -> None:
    def glob(pattern: str) -> re.Pattern[str]:
        return re.compile("^" + re.escape(pattern).replace(r"\*", "[^/]+") + "$")

    assert glob(tf.locals["evidence_key_glob"]).match(keys.evidence_key("t1", "scn_1", "network"))
    assert glob(tf.locals["report_key_glob"]).match(keys.report_key("t1", "scn_1", "pdf"))
    assert not glob(tf.locals["evidence_key_glob"]).match(keys.report_key("t1", "scn_1", "pdf"))


# --- Queues ---------------------------------------------------------------------------------------

class _CapturingSqs:
    """Records the attributes local provisioning creates its queues with."""

    def __init__(self) -> None:
        self.created: dict[str, dict[str, str]] = {}

    def create_queue(self, QueueName: str, Attributes: dict[str, str]) -> dict[str, str]:  # noqa: N803
        self.created[QueueName] = Attributes
        return {"QueueUrl": f"https://sqs.local/{QueueName}"}

    def get_queue_attributes(self, QueueUrl: str, AttributeNames: list[str]) -> dict[str, Any]:  # noqa: N803
        return {"Attributes": {"QueueArn": f"arn:aws:sqs:us-east-1:123456789012:{QueueUrl.rsplit('/', 1)[1]}"}}


def _local_queue_attributes() -> tuple[dict[str, str], dict[str, str]]:
    sqs = _CapturingSqs()
    ensure_queues(sqs, "perimeter-webhook-events")
    return sqs.created["perimeter-webhook-events"], sqs.created["perimeter-webhook-events-dlq"]


def test_sqs_visibility_is_six_times_consumer_timeout(tf: Config) -> None:
    visibility = tf.locals["webhook_queue"]["visibility_timeout_seconds"]
    assert visibility >= 6 * contract.WEBHOOK_CONSUMER.timeout
    queue = tf.resource("aws_sqs_queue", "webhooks")
    assert queue["visibility_timeout_seconds"] == "${local.webhook_queue.visibility_timeout_seconds}"


def test_webhook_queues_match_local_provisioning(tf: Config) -> None:
    queue, dlq = _local_queue_attributes()
    numbers = tf.locals["webhook_queue"]
    assert numbers["visibility_timeout_seconds"] == int(queue["VisibilityTimeout"])
    assert numbers["message_retention_seconds"] == int(queue["MessageRetentionPeriod"])
    assert numbers["max_receive_count"] == int(json.loads(queue["RedrivePolicy"])["maxReceiveCount"])
    assert numbers["dlq_retention_seconds"] == int(dlq["MessageRetentionPeriod"])
    resource = tf.resource("aws_sqs_queue", "webhooks")
    assert "local.webhook_queue.max_receive_count" in resource["redrive_policy"]
    assert resource["message_retention_seconds"] == "${local.webhook_queue.message_retention_seconds}"
    assert tf.resource("aws_sqs_queue", "webhooks_dlq")["message_retention_seconds"] == \
        "${local.webhook_queue.dlq_retention_seconds}"


def test_dlq_retention_exceeds_source_retention(tf: Config) -> None:
    numbers = tf.locals["webhook_queue"]
    assert numbers["dlq_retention_seconds"] > numbers["message_retention_seconds"]
    assert numbers["dlq_retention_seconds"] <= 1209600, "SQS keeps messages 14 days at most"


def test_event_source_mapping_reports_batch_item_failures(tf: Config) -> None:
    mapping = tf.resource("aws_lambda_event_source_mapping", "webhooks")
    assert mapping["function_response_types"] == ["ReportBatchItemFailures"]
    assert mapping["function_name"] == "${aws_lambda_function.fn[local.webhook_consumer].arn}"
    assert mapping["event_source_arn"] == "${aws_sqs_queue.webhooks.arn}"
    queue_config = pytest.importorskip("chalicelib.webhooks.queue_config",
                                       reason="webhook queue constants not in the code yet")
    assert tuple(mapping["function_response_types"]) == tuple(queue_config.FUNCTION_RESPONSE_TYPES)
    assert tf.locals["webhook_queue"]["batch_size"] == queue_config.BATCH_SIZE
    assert tf.locals["webhook_queue"]["batching_window_seconds"] == queue_config.MAX_BATCHING_WINDOW_SECONDS
    assert queue_config.check() == []
    assert tf.resource("aws_sqs_queue", "webhooks")["name"] == "${var.prefix}-" + queue_config.QUEUE_NAME_SUFFIX
    assert tf.resource("aws_sqs_queue", "webhooks_dlq")["name"] == "${var.prefix}-" + queue_config.DLQ_NAME_SUFFIX


# --- IAM ------------------------------------------------------------------------------------------

def _statements(tf: Config) -> list[tuple[str, dict[str, Any]]]:
    """(document name, statement) of every identity policy, including dynamic blocks and lambda_statements."""
    found: list[tuple[str, dict[str, Any]]] = []
    for name, document in tf.data["aws_iam_policy_document"].items():
        for statement in document.get("statement", []):
            found.append((name, statement))
        for dynamic in document.get("dynamic", []):
            for content in dynamic.get("statement", {}).get("content", []):
                found.append((name, content))
    for statements in tf.locals["lambda_statements"].values():
        found += [("lambda", s) for s in statements if isinstance(s, dict)]
    for key in ("table_statement", "enqueue_webhook_event"):
        found.append(("lambda", tf.locals[key]))
    return found


def test_iam_policies_name_specific_resources(tf: Config) -> None:
    statements = _statements(tf)
    assert len(statements) > 20
    wildcards = set()
    for document, statement in statements:
        resources = statement.get("resources", [])
        if isinstance(resources, list) and "*" in resources:
            key = (document, statement.get("sid", "?"))
            assert key in ALLOWED_WILDCARDS, f'{key}: Resource "*" is not on the justified allow-list'
            wildcards.add(key)
        assert statement.get("effect", "Allow") == "Allow" or document == "reports_bucket"
        for action in statement.get("actions", []) if isinstance(statement.get("actions"), list) else []:
            assert not action.endswith(":*") or document == "reports_bucket", f"{document}: {action}"
    assert wildcards >= {("scanner_task", "SendTaskResults"), ("scanner_execution", "EcrAuthorizationToken")}
    listing = next(s for d, s in statements if d == "lambda" and s.get("sid") == "ListScannerTasks")
    assert listing["condition"]["variable"] == "ecs:cluster"


def test_every_role_policy_comes_from_a_policy_document(tf: Config) -> None:
    for name, policy in tf.resources.get("aws_iam_role_policy", {}).items():
        document = r"\$\{data\.aws_iam_policy_document\.[a-z_]+(\[each\.key\])?\.json\}"
        assert re.fullmatch(document, policy["policy"]), name
    assert "aws_iam_policy" not in tf.resources, "use role policies from aws_iam_policy_document"


def test_scanner_task_role_writes_only_evidence(tf: Config) -> None:
    statements = {s["sid"]: s for s in tf.data["aws_iam_policy_document"]["scanner_task"]["statement"]}
    assert statements["WriteEvidence"]["actions"] == ["s3:PutObject"]
    assert statements["WriteEvidence"]["resources"] == ["${aws_s3_bucket.reports.arn}/${local.evidence_key_glob}"]
    assert tf.locals["evidence_key_glob"] == "tenants/*/scans/*/evidence/*"
    assert sorted(statements["SendTaskResults"]["actions"]) == [
        "states:SendTaskFailure", "states:SendTaskHeartbeat", "states:SendTaskSuccess"]


# --- Variables and outputs ------------------------------------------------------------------------

def test_variables_have_descriptions_and_validation(tf: Config) -> None:
    for name, variable in tf.variables.items():
        assert len(variable.get("description", "")) > 10, f"var.{name} needs a description"
        if variable.get("type") not in ("bool", "${bool}"):
            assert variable.get("validation"), f"var.{name} needs a validation block"


def test_outputs_name_every_resource_the_code_needs(tf: Config) -> None:
    needed = {"table_name", "bucket_name", "webhook_queue_url", "webhook_dlq_url", "state_machine_arn",
              "cluster_name", "api_url", "ecr_repository_url", "lambda_environment"}
    assert needed <= set(tf.outputs)
    assert all(o.get("description") for o in tf.outputs.values())


def test_every_log_group_has_a_retention(tf: Config) -> None:
    for name, group in tf.resources["aws_cloudwatch_log_group"].items():
        assert group["retention_in_days"] == "${var.log_retention_days}", name
        assert group.get("kms_key_id"), name
    log_groups = tf.locals["log_groups"]
    for key in ("api_access", "state_machine", "scanner", "flow_logs"):
        assert key in log_groups
