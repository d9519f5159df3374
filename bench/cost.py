"""Cost model: the AWS cost of one posture scan and of a month of them, printed as JSON.

Variable cost per scan: Lambda (GB-s + requests, cold-start init included) for the api, the pipeline
Lambdas on the success path and the webhook consumer; Step Functions Standard state transitions,
counted by walking the repository's ASL file along a successful posture scan; Fargate vCPU-s and
GB-s per scanner task (one per signal group, 1-minute minimum each; ARM64 and Fargate Spot priced
when variables.tf's defaults choose them, an interruption-retry allowance added for Spot); DynamoDB on-demand request
units; S3 requests and storage; SQS requests; CloudWatch Logs ingestion; KMS requests; data
transfer out. Fixed monthly cost: the NAT (instance by default), alarms, the KMS key, log and image
storage, the event source mapping's idle polling. Totals at SCANS_PER_MONTH with and without the
fixed cost amortised, before (X86_64 On-Demand scanner tasks) and after (the Terraform defaults), against
TARGET_PER_SCAN (amortised) and GOAL_PER_SCAN (issue 15).

Step durations: `bench/results/bench_pipeline.json` (`step_seconds`: {step name: seconds}) when it
exists, else the documented defaults below; the output says which. Prices: us-east-1 list prices,
see PRICES_AS_OF and docs/cost.md for the pages they come from.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from chalicelib.core import contract  # noqa: E402

ASL_PATH = ROOT / "chalicelib" / "pipeline" / "scan-pipeline.asl.json"
PIPELINE_BENCH = ROOT / "bench" / "results" / "bench_pipeline.json"
VARIABLES_TF = ROOT / "infra" / "terraform" / "variables.tf"
OBSERVABILITY_TF = ROOT / "infra" / "terraform" / "observability.tf"
SCANS_PER_MONTH = 10_000
TARGET_PER_SCAN = 0.002  # the original target: amortised, fixed cost included
GOAL_PER_SCAN = 0.001  # issue 15: "<= $0.001 per posture scan at 10k scans a month"
HOURS_PER_MONTH = 730

PRICES_AS_OF = "2026-11-21"
# us-east-1 list prices in USD (on-demand, no free tier, no savings plans).
PRICES: dict[str, float] = {
    "lambda_gb_second_x86": 0.0000166667,  # AWS Lambda pricing
    "lambda_request": 0.20 / 1e6,
    "apigw_rest_request": 3.50 / 1e6,  # Amazon API Gateway pricing, REST APIs, first 333M
    "sfn_standard_transition": 0.025 / 1000,  # AWS Step Functions pricing, Standard workflows
    "fargate_vcpu_hour_x86": 0.04048,  # AWS Fargate pricing, Linux/x86
    "fargate_gb_hour_x86": 0.004445,
    "fargate_vcpu_hour_arm": 0.03238,  # Linux/ARM (Graviton): 20% below x86 for both vCPU and GB-hours
    "fargate_gb_hour_arm": 0.00356,
    "dynamodb_wru": 0.625 / 1e6,  # Amazon DynamoDB pricing, on-demand (since 2024-11-01)
    "dynamodb_rru": 0.125 / 1e6,
    "dynamodb_gb_month": 0.25,
    "s3_put": 0.005 / 1000,  # Amazon S3 pricing, Standard: PUT, COPY, POST, LIST
    "s3_get": 0.0004 / 1000,  # GET, SELECT
    "s3_gb_month": 0.023,
    "sqs_request": 0.40 / 1e6,  # Amazon SQS pricing, standard queue
    "logs_ingest_gb": 0.50,  # Amazon CloudWatch pricing, Logs: collect (standard)
    "logs_store_gb_month": 0.03,
    "alarm_month": 0.10,  # standard-resolution alarm, per metric it reads (a metric-math alarm pays each)
    "custom_metric_month": 0.30,  # Amazon CloudWatch pricing, first 10,000 metrics, prorated by the hour
    "kms_key_month": 1.00,  # AWS KMS pricing
    "kms_request": 0.03 / 10_000,
    "data_out_gb": 0.09,  # Amazon EC2 pricing, data transfer out to the internet (first 10 TB)
    "ec2_t4g_nano_hour": 0.0042,  # Amazon EC2 On-Demand pricing
    "ebs_gp3_gb_month": 0.08,  # Amazon EBS pricing
    "public_ipv4_hour": 0.005,  # Amazon VPC pricing, public IPv4 addresses
    "nat_gateway_hour": 0.045,  # Amazon VPC pricing, NAT gateway
    "nat_gateway_gb": 0.045,
    "ecr_gb_month": 0.10,  # Amazon ECR pricing
}

# Fargate Spot (AWS Fargate pricing page: Fargate Spot runs "at up to a 70% discount off the Fargate
# price"; the Spot price moves with supply). The model takes 65% off On-Demand, five points short of the
# documented maximum, on the architecture's own On-Demand rate (FARGATE_SPOT takes ARM64 on platform
# 1.4.0, ECS API reference, CapacityProviderStrategyItem).
SPOT_DISCOUNT = 0.65
# An interrupted task is billed up to its interruption and then run again (the ASL retries
# Scanner.Transient): 10% more Spot task time per scan, generous for 1-2 minute tasks (AWS publishes
# no Fargate Spot interruption rate; EC2's Spot Instance Advisor puts most pools under 5% a month).
SPOT_RETRY_ALLOWANCE = 0.10

# Documented defaults, used when bench/results/bench_pipeline.json is absent (docs/cost.md).
DEFAULT_STEP_SECONDS: dict[str, float] = {
    "api": 0.08,  # one API request, warm (local p50: GET 15 ms, POST 38 ms; DynamoDB round trips added)
    "mark_scanning": 0.20,
    "score_scan": 0.30,
    "render_report": 1.00,  # PDF + JSON at ~0.6 vCPU (local render_and_store p50 221 ms on a full core)
    "finalize_scan": 0.20,
    "mark_failed": 0.20,
    "deliver_webhooks": 0.30,  # one delivery; the sender's timeout bounds it at 10 s
    "network": 90.0,  # scanner task, billed from image pull to stop: pull ~15 s, nmap -sT top-100, TLS, web
    "intel": 40.0,  # DNS, DNSBL and breach lookups; billed as the 60 s minimum
}
ASSUMPTIONS: dict[str, float] = {
    "api_requests_per_scan": 11,  # POST /v1/scans, 8 status polls, findings, report link
    "cold_start_fraction": 0.10,  # share of invocations that pay an init
    "init_seconds": 0.6,  # billed INIT phase (imports: app 205 ms + boto3 150 ms + handler deps)
    "webhook_events_per_scan": 2,  # scan.started + scan.completed, one endpoint
    "dynamodb_wru_per_scan": 40,  # idempotency, rate windows, scan transitions (~8 KB docs), usage, deliveries
    "dynamodb_rru_per_scan": 40,  # strongly consistent reads of key, scan, tenant, endpoints, polls
    "s3_puts_per_scan": 5,  # 2 evidence documents, report.pdf, report.json, manifest
    "s3_gets_per_scan": 4,  # 2 evidence reads (score), logo (render), 1 report download
    "s3_mb_stored_per_scan": 0.25,  # evidence ~40 KB x2, pdf ~65 KB, json ~40 KB, manifest
    "report_retention_months": 3,  # var.report_retention_days = 90
    "dynamodb_kb_per_scan": 20,  # scan record, deliveries, idempotency (most expire by TTL)
    "sqs_requests_per_event": 3,  # send, receive, delete
    "logs_kb_per_scan": 100,  # Lambda ~30, state machine ~15, scanner ~10, API access ~6, flow logs ~35
    "kms_requests_per_scan": 6,  # bucket-key and data-key reuse keep this small
    "data_out_mb_per_scan": 0.5,  # probes and TLS handshakes out, report download, webhook bodies
    "esm_idle_pollers": 5,  # the SQS event source mapping long-polls (20 s) with ~5 pollers when idle
    "log_storage_compression": 0.15,  # CloudWatch bills stored logs compressed
    "ecr_image_gb": 0.5,
    "nat_ebs_gb": 8,
    # Failure breakdown series (scan type, error code, signal, kind, reason) exist only in hours with a
    # failure of that kind: share of the month each such series is published.
    "failure_series_hours_share": 0.10,
    "failure_breakdown_values": 3,  # distinct values per breakdown dimension seen in a month
}


# --- ASL walk -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Visit:
    """One state entered (one Standard-workflow state transition)."""

    name: str
    type: str
    lambda_name: str | None = None
    signal_group: str | None = None


_PLACEHOLDER = re.compile(r"^\$\{([a-z0-9_]+)\}$")
_LAMBDA_BY_PLACEHOLDER = {spec.asl_placeholder: spec.name for spec in contract.PIPELINE_LAMBDAS}


def posture_input() -> dict[str, Any]:
    """The state a successful posture scan carries into the Choice states: every signal group wanted."""
    return {"scan_type": "posture", "run": {"groups": {group: True for group in contract.SIGNAL_GROUPS}}}


def _lookup(data: Any, path: str) -> tuple[bool, Any]:
    if path == "$":
        return True, data
    if not path.startswith("$."):
        raise ValueError(f"unsupported JSONPath {path!r}")
    node = data
    for part in path[2:].split("."):
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def _matches(rule: Mapping[str, Any], data: Any) -> bool:
    """Evaluate one Choice rule; raises ValueError for an operator the model does not know."""
    if "And" in rule:
        return all(_matches(r, data) for r in rule["And"])
    if "Or" in rule:
        return any(_matches(r, data) for r in rule["Or"])
    if "Not" in rule:
        return not _matches(rule["Not"], data)
    found, value = _lookup(data, rule["Variable"])
    comparisons: dict[str, Callable[[Any], bool]] = {
        "IsPresent": lambda expected: found == expected,
        "IsNull": lambda expected: (found and value is None) == expected,
        "BooleanEquals": lambda expected: found and value is expected,
        "StringEquals": lambda expected: found and value == expected,
        "NumericEquals": lambda expected: found and value == expected,
        "NumericGreaterThan": lambda expected: found and value > expected,
        "NumericLessThan": lambda expected: found and value < expected,
    }
    for operator, compare in comparisons.items():
        if operator in rule:
            return bool(compare(rule[operator]))
    raise ValueError(f"Choice operator not modelled: {sorted(set(rule) - {'Variable', 'Next'})}")


def _task_detail(state: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(pipeline Lambda name, scanner signal group) of a Task state."""
    resource = str(state.get("Resource", ""))
    match = _PLACEHOLDER.match(resource)
    if match:
        return _LAMBDA_BY_PLACEHOLDER.get(match.group(1)), None
    if ":ecs:runTask" in resource:
        for override in state.get("Parameters", {}).get("Overrides", {}).get("ContainerOverrides", []):
            for env in override.get("Environment", []):
                if env.get("Name") == "SIGNAL_GROUP" and "Value" in env:
                    return None, str(env["Value"])
    return None, None


def walk(machine: Mapping[str, Any], data: Any, limit: int = 1000) -> list[Visit]:
    """States a successful execution enters, in order (Parallel branches in full, Map unsupported).

    Follows Next/End, Choice rules against `data` (else Default), never Catch; stops at Succeed/Fail.
    Raises ValueError on a loop, a Map, a missing state or an unmodelled Choice operator.
    """
    visits: list[Visit] = []
    name = machine["StartAt"]
    states = machine["States"]
    while name is not None:
        if len(visits) > limit:
            raise ValueError("the walk does not terminate (a loop without exit?)")
        if name not in states:
            raise ValueError(f"state {name!r} does not exist")
        state = states[name]
        kind = state["Type"]
        lambda_name, group = _task_detail(state) if kind == "Task" else (None, None)
        visits.append(Visit(name, kind, lambda_name, group))
        if kind == "Parallel":
            for branch in state["Branches"]:
                visits.extend(walk(branch, data, limit))
        elif kind == "Map":
            raise ValueError(f"Map state {name!r}: iterations unknown to the cost model")
        if kind == "Choice":
            name = next((rule["Next"] for rule in state.get("Choices", []) if _matches(rule, data)),
                        state.get("Default"))
            if name is None:
                raise ValueError(f"Choice {state!r} has no matching rule and no Default")
        elif kind in ("Succeed", "Fail") or state.get("End"):
            name = None
        else:
            name = state["Next"]
    return visits


def posture_path(asl_path: Path = ASL_PATH) -> list[Visit]:
    """The states of a successful posture scan in the repository's ASL file."""
    return walk(json.loads(asl_path.read_text()), posture_input())


# --- Durations ------------------------------------------------------------------------------------

def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def step_seconds(path: list[Visit], bench_file: Path = PIPELINE_BENCH) -> tuple[dict[str, float], str, list[str]]:
    """Seconds per cost component (Lambda names, signal groups, 'api'), their source, unmatched keys.

    A bench key matches a component by its name, a signal group's scanner ("scanner_network"), or the
    ASL state name of the Task that runs it ("RunNetworkScanner", "Score").
    """
    seconds = dict(DEFAULT_STEP_SECONDS)
    if not bench_file.exists():
        return seconds, "defaults (bench/results/bench_pipeline.json not found)", []
    measured = json.loads(bench_file.read_text()).get("step_seconds", {})
    aliases: dict[str, str] = {_norm(k): k for k in seconds}
    aliases.update({_norm(f"scanner_{g}"): g for g in contract.SIGNAL_GROUPS})
    for visit in path:
        component = visit.lambda_name or visit.signal_group
        if component:
            aliases[_norm(visit.name)] = component
    unmatched = []
    for key, value in measured.items():
        component = aliases.get(_norm(key))
        if component is None:
            unmatched.append(key)
        else:
            seconds[component] = float(value)
    shown = bench_file.relative_to(ROOT) if bench_file.is_relative_to(ROOT) else bench_file
    return seconds, f"measured ({shown}), defaults for the rest", unmatched


# --- Terraform defaults ---------------------------------------------------------------------------

def _variable_default(variables_tf: Path, name: str) -> Any:
    """A variable's default in variables.tf; raises ImportError, OSError or KeyError when it cannot be read."""
    import hcl2

    with variables_tf.open() as handle:
        parsed = hcl2.load(handle)
    variables = {k: v for block in parsed.get("variable", []) for k, v in block.items()}
    value = variables[f'"{name}"' if f'"{name}"' in variables else name]["default"]
    return value.strip('"') if isinstance(value, str) else value


def scanner_size(variables_tf: Path = VARIABLES_TF) -> tuple[float, float, str]:
    """(vCPU, GB, architecture) of one scanner task from variables.tf's defaults; falls back to 0.25/0.5/X86_64."""
    try:
        size = _variable_default(variables_tf, "scanner_size")
        arch = str(_variable_default(variables_tf, "scanner_cpu_architecture"))
        return size["cpu"] / 1024, size["memory"] / 1024, arch
    except (ImportError, OSError, KeyError, TypeError):
        return 0.25, 0.5, "X86_64"


def scanner_capacity_provider(variables_tf: Path = VARIABLES_TF) -> str:
    """FARGATE or FARGATE_SPOT: variables.tf's default of scanner_capacity_provider; falls back to FARGATE."""
    try:
        return str(_variable_default(variables_tf, "scanner_capacity_provider"))
    except (ImportError, OSError, KeyError, TypeError):
        return "FARGATE"


# --- The model ------------------------------------------------------------------------------------

def _lambda_cost(seconds: float, memory_mb: int, invocations: float) -> float:
    cold = ASSUMPTIONS["cold_start_fraction"] * invocations * ASSUMPTIONS["init_seconds"]
    gb_seconds = (seconds * invocations + cold) * memory_mb / 1024
    return gb_seconds * PRICES["lambda_gb_second_x86"] + invocations * PRICES["lambda_request"]


def variable_costs(path: list[Visit], seconds: Mapping[str, float], size: tuple[float, float, str],
                   capacity_provider: str = "FARGATE") -> dict[str, float]:
    """USD per posture scan, by line item; FARGATE_SPOT prices the scanner tasks at the Spot discount."""
    memory = {spec.name: spec.memory for spec in contract.ALL_LAMBDAS}
    api_requests = ASSUMPTIONS["api_requests_per_scan"]
    lambdas = _lambda_cost(seconds["api"], memory["api"], api_requests)
    for visit in path:
        if visit.lambda_name:
            lambdas += _lambda_cost(seconds[visit.lambda_name], memory[visit.lambda_name], 1)
    events = ASSUMPTIONS["webhook_events_per_scan"]
    lambdas += _lambda_cost(seconds[contract.WEBHOOK_CONSUMER.name], contract.WEBHOOK_CONSUMER.memory, events)

    vcpu, gb, arch = size
    suffix = "arm" if arch == "ARM64" else "x86"
    fargate = 0.0
    for visit in path:
        if visit.signal_group:
            billed_hours = max(60.0, seconds[visit.signal_group]) / 3600
            rate = vcpu * PRICES[f"fargate_vcpu_hour_{suffix}"] + gb * PRICES[f"fargate_gb_hour_{suffix}"]
            fargate += billed_hours * rate
    if capacity_provider == "FARGATE_SPOT":
        fargate *= (1 - SPOT_DISCOUNT) * (1 + SPOT_RETRY_ALLOWANCE)

    return {
        "lambda": lambdas,
        "api_gateway": api_requests * PRICES["apigw_rest_request"],
        "step_functions": len(path) * PRICES["sfn_standard_transition"],
        "fargate": fargate,
        "dynamodb": (ASSUMPTIONS["dynamodb_wru_per_scan"] * PRICES["dynamodb_wru"]
                     + ASSUMPTIONS["dynamodb_rru_per_scan"] * PRICES["dynamodb_rru"]
                     + ASSUMPTIONS["dynamodb_kb_per_scan"] / 2**20 * PRICES["dynamodb_gb_month"]),
        "s3": (ASSUMPTIONS["s3_puts_per_scan"] * PRICES["s3_put"] + ASSUMPTIONS["s3_gets_per_scan"] * PRICES["s3_get"]
               + ASSUMPTIONS["s3_mb_stored_per_scan"] / 1024 * ASSUMPTIONS["report_retention_months"]
               * PRICES["s3_gb_month"]),
        "sqs": events * ASSUMPTIONS["sqs_requests_per_event"] * PRICES["sqs_request"],
        "cloudwatch_logs": ASSUMPTIONS["logs_kb_per_scan"] / 2**20 * PRICES["logs_ingest_gb"],
        "kms": ASSUMPTIONS["kms_requests_per_scan"] * PRICES["kms_request"],
        "data_transfer": ASSUMPTIONS["data_out_mb_per_scan"] / 1024 * PRICES["data_out_gb"],
    }


def alarm_count(observability_tf: Path = OBSERVABILITY_TF) -> int:
    """Alarm metrics infra/terraform/observability.tf creates (NAT instance mode), as CloudWatch bills them.

    An alarm on one metric counts 1; a metric-math alarm counts each `metric_query` that reads a
    metric (expressions are free). A literal for_each counts its keys; raises ValueError otherwise.
    """
    import hcl2

    with observability_tf.open() as handle:
        parsed = hcl2.load(handle)
    total = 0
    for block in parsed.get("resource", []):
        for kind, resources in block.items():
            if kind.strip('"') != "aws_cloudwatch_metric_alarm":
                continue
            for body in resources.values():
                for_each = body.get("for_each")
                if for_each is not None and not isinstance(for_each, dict):
                    raise ValueError("alarm for_each must be a literal map for the cost model to count it")
                queries = body.get("metric_query") or []
                metrics = sum(1 for q in queries if q.get("metric")) or 1
                total += metrics * (len(for_each) if isinstance(for_each, dict) else 1)
    return total


def custom_metric_series() -> float:
    """Custom metric series billed in a month (chalicelib.core.observability.METRICS): the volumes all
    month; each failure metric's series and its breakdowns for the share of hours they are published."""
    from chalicelib.core.observability import METRICS

    always = sum(1 for dims in METRICS.values() if not dims)  # volumes and durations, published every hour
    failures = [dims for dims in METRICS.values() if dims]  # published only in hours with such a failure
    sometimes = sum(1 + len(dims) * ASSUMPTIONS["failure_breakdown_values"] for dims in failures)
    return always + sometimes * ASSUMPTIONS["failure_series_hours_share"]


def fixed_costs(scans_per_month: int, nat_type: str = "instance") -> dict[str, float]:
    """USD per month that do not depend on the number of scans (log storage at `scans_per_month`)."""
    if nat_type == "instance":
        nat = (HOURS_PER_MONTH * (PRICES["ec2_t4g_nano_hour"] + PRICES["public_ipv4_hour"])
               + ASSUMPTIONS["nat_ebs_gb"] * PRICES["ebs_gp3_gb_month"])
    else:
        nat = HOURS_PER_MONTH * (PRICES["nat_gateway_hour"] + PRICES["public_ipv4_hour"])
    minutes = HOURS_PER_MONTH * 60
    idle_polls = ASSUMPTIONS["esm_idle_pollers"] * minutes * 3  # one 20 s long poll per poller
    logs_gb = ASSUMPTIONS["logs_kb_per_scan"] * scans_per_month / 2**20
    return {
        f"nat_{nat_type}": nat,
        "alarms": alarm_count() * PRICES["alarm_month"],
        "custom_metrics": custom_metric_series() * PRICES["custom_metric_month"],
        "kms_key": PRICES["kms_key_month"],
        "sqs_idle_polling": idle_polls * PRICES["sqs_request"],
        "log_storage": logs_gb * ASSUMPTIONS["log_storage_compression"] * PRICES["logs_store_gb_month"],
        "ecr_storage": ASSUMPTIONS["ecr_image_gb"] * PRICES["ecr_gb_month"],
    }


def _round(values: Mapping[str, float], digits: int = 7) -> dict[str, float]:
    return {k: round(v, digits) for k, v in values.items()}


def model(scans_per_month: int = SCANS_PER_MONTH, bench_file: Path = PIPELINE_BENCH,
          asl_path: Path = ASL_PATH) -> dict[str, Any]:
    """The whole cost model as a JSON-ready dict."""
    path = posture_path(asl_path)
    seconds, source, unmatched = step_seconds(path, bench_file)
    size = scanner_size()
    provider = scanner_capacity_provider()
    variable = variable_costs(path, seconds, size, provider)
    per_scan = sum(variable.values())
    fixed = fixed_costs(scans_per_month)
    fixed_gateway = fixed_costs(scans_per_month, "gateway")
    monthly_fixed = sum(fixed.values())
    amortised = per_scan + monthly_fixed / scans_per_month
    before = sum(variable_costs(path, seconds, (size[0], size[1], "X86_64"), "FARGATE").values())
    return {
        "prices": {"region": "us-east-1", "as_of": PRICES_AS_OF, "source": "AWS pricing pages, see docs/cost.md"},
        "durations_source": source,
        "durations_unmatched_keys": unmatched,
        "step_seconds": seconds,
        "assumptions": ASSUMPTIONS,
        "scanner_task": {"vcpu": size[0], "memory_gb": size[1], "architecture": size[2],
                         "capacity_provider": provider, "tasks_per_scan": sum(1 for v in path if v.signal_group)},
        "spot": {"discount": SPOT_DISCOUNT, "retry_allowance": SPOT_RETRY_ALLOWANCE,
                 "source": "AWS Fargate pricing: Spot up to 70% off; 65% used, plus 10% re-run time"},
        "state_transitions": len(path),
        "states_on_success_path": [v.name for v in path],
        "variable_per_scan_usd": _round(variable),
        "variable_per_scan_total_usd": round(per_scan, 7),
        "fixed_monthly_usd": _round(fixed, 3),
        "fixed_monthly_total_usd": round(monthly_fixed, 2),
        "scans_per_month": scans_per_month,
        "per_scan_without_fixed_usd": round(per_scan, 6),
        "per_scan_with_fixed_usd": round(amortised, 6),
        "target_per_scan_usd": TARGET_PER_SCAN,
        "met": amortised <= TARGET_PER_SCAN,
        "before_after": {
            "before": {"scanner_tasks": "X86_64 on FARGATE", "per_scan_without_fixed_usd": round(before, 6),
                       "per_scan_with_fixed_usd": round(before + monthly_fixed / scans_per_month, 6)},
            "after": {"scanner_tasks": f"{size[2]} on {provider}", "per_scan_without_fixed_usd": round(per_scan, 6),
                      "per_scan_with_fixed_usd": round(amortised, 6)},
        },
        "goal_per_scan_usd": GOAL_PER_SCAN,
        "goal_met_without_fixed": per_scan <= GOAL_PER_SCAN,
        "goal_met_with_fixed": amortised <= GOAL_PER_SCAN,
        "fixed_monthly_budget_for_goal_usd": round(max(GOAL_PER_SCAN - per_scan, 0.0) * scans_per_month, 2),
        "comparison_nat_gateway": {
            "fixed_monthly_total_usd": round(sum(fixed_gateway.values()), 2),
            "per_scan_with_fixed_usd": round(
                per_scan + sum(fixed_gateway.values()) / scans_per_month
                + ASSUMPTIONS["data_out_mb_per_scan"] / 1024 * PRICES["nat_gateway_gb"], 6),
        },
        "break_even_scans_per_month": math.ceil(monthly_fixed / max(TARGET_PER_SCAN - per_scan, 1e-9)),
    }


def main() -> int:
    """Print the model; also stored in bench/results/cost.json."""
    from bench.common import write

    write("cost", model())
    return 0


if __name__ == "__main__":
    sys.exit(main())
