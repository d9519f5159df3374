"""Every change Perimeter makes to moto, in one place, pinned to the moto version it was written for.

Over 400 lines on purpose: a moto upgrade means re-reading every patch against the new source, so
they stay in one module with one version check.

moto is the embedded stack's AWS; these patches close the gaps the real ASL needs (see
`../shared/notes/local-aws.md`) and connect moto to the local Lambda dispatcher and Fargate runner:

1. ECS service integration (`ecs:runTask.waitForTaskToken`): moto stubbed out the request and
   response normalisation it ported from LocalStack, so `Cluster`/`TaskDefinition` reach boto3
   capitalised and the run fails with `States.Runtime` (KeyError 'Cluster'). getmoto/moto#10076;
   fix PRs getmoto/moto#10094 and #10101. Restored here from botocore's operation shapes, for ECS only.
2. A Retry of a `.waitForTaskToken` state reuses attempt 1's token and its answered callback, so
   attempt 2 fails at once with attempt 1's error. AWS mints a fresh token per attempt; so do we.
   (No upstream issue found at moto 5.2.5.)
3. The interpreter builds a new boto3 client for every service call (~20-40 ms of CPU each) and
   points it at `localhost`, which tries ::1 first. Clients are cached per (region, service) and go
   to 127.0.0.1. A speed fix, not a behaviour change.
4. Lambda: moto runs functions only in Docker. `LambdaFunction.invoke` is replaced by a call into the
   in-process dispatcher (`chalicelib.local.dispatcher`), which calls the handler named by the
   function's `Handler` string and returns the real Lambda error envelope on an exception. Works the
   same in server mode (the embedded stack) and under `mock_aws` (integration tests).
5. The interpreter sets up a task's heartbeat endpoint only after RunTask returns, but a fast worker
   (the local runner starts inside RunTask) can answer or beat before that. An early answer was only
   noticed after a whole HeartbeatSeconds, and an early heartbeat was refused as InvalidToken (the
   worker then gives up). AWS accepts both. The endpoint is now set up already notified when the
   outcome is in, and a beat before it exists is accepted. (No upstream issue found.)
6. A `States.*` error inside a Parallel branch (a task's `States.Timeout` or `States.HeartbeatTimeout`)
   crashes the interpreter: the Parallel state re-raises it as a CustomErrorName, which refuses the
   `States.` prefix, so the execution dies with a ValueError and no Catch runs. LocalStack builds a
   StatesErrorName there; so do we. (No upstream issue found at moto 5.2.5.)
7. Task failures lose their cause: moto's SendTaskFailure handler passes only `error` on, so every
   Catch sees `"Cause": ""`. The handler now passes `cause` too. (moto 5.2.5 responses.py.)
8. A heartbeat timeout is reported as `States.Timeout`; AWS reports `States.HeartbeatTimeout`, which
   the pipeline tells apart (a dead scanner is not a slow scan). HeartbeatTimeoutError now maps to it.
9. StopExecution flags the execution stopped, but the waiting task state then unwinds with an error
   and `set_error` overwrites the stopped state, so a cancelled scan's execution ends FAILED (and
   runs no Catch only by luck). A stopped execution now stays stopped, as AWS's ABORTED does. And
   StopExecution only flagged it: a state waiting on a task token noticed at its next heartbeat
   check, so the execution read RUNNING for up to HeartbeatSeconds (60 s for the scanners) unless the
   worker answered; AWS aborts at once. The stop now wakes every callback and heartbeat wait of the
   execution (`CallbackEndpoint.interrupt_all`, what moto itself uses to interrupt waits), and the
   waiter finds the program stopped: ABORTED at once, no Catch run. Last, a Parallel branch whose
   frame is opened after the stop (a scanner cancelling its scan while the Parallel still starts its
   other branches) inherited the stopped state, crashed setting its first state, never reported to
   the Parallel, and left the execution RUNNING for good; such a branch now ends at once.
10. ECS RunTask/StopTask notify the local Fargate runner (`chalicelib.local.runner`), which starts
   the scanner entrypoint with the task's environment and kills it when the task is stopped.

What `terraform apply` of infra/terraform needs (upstream text in docs/moto-upstream.md):

11. AWS managed IAM policies exist only with MOTO_IAM_LOAD_MANAGED_POLICIES=true, so attaching
   `AmazonAPIGatewayPushToCloudWatchLogs` fails (NoSuchEntity). They are loaded.
12. SQS stores `RedriveAllowPolicy` but never returns it and refuses it as an attribute name in
   GetQueueAttributes; the provider then waits 20 minutes for it. It is returned.
13. Step Functions `ValidateStateMachineDefinition` and `ListStateMachineVersions` are not
   implemented (HTTP 500, retried by the provider). Validation parses with moto's own ASL parser.
14. ECS RunTask sums container-level `memory` only: a task definition with task-level memory alone
   (valid on Fargate, as infra/terraform's) crashes it with a TypeError. Task-level cpu/memory count.
15. S3 bucket policies: moto evaluates a statement's Condition without any request context, so a
   conditional statement always fails its condition and reads as DENIED: the `DenyPlainHttp` and
   presigned-age Deny statements refuse every PutObject. Conditional statements are left out.
16. SQS event source mappings: moto invokes the function inline in SendMessage, one message per
   event, and deletes the batch whatever `batchItemFailures` says. With an `on_event_source_mapping`
   hook (the endpoint's poller) the mapping is handed to the hook instead and moto leaves the queue alone.
17. Step Functions' `ecs:runTask` drops `CapacityProviderStrategy` from the state's Parameters (the
   interpreter keeps a fixed set of keys), so Spot scanner tasks ran on the cluster default. Kept.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from typing import Any

import moto

log = logging.getLogger(__name__)

MOTO_VERSION = "5.2.5"

# (handler string, event bytes, function name) -> (payload bytes, function error or None)
Invoker = Callable[[str, bytes, str], tuple[bytes, str | None]]
# (cluster arn, task arn, environment of the scanner container) -> None
RunTaskHook = Callable[[str, str, dict[str, str]], None]
StopTaskHook = Callable[[str], None]
# (function ARN, event source ARN, batch size) -> None: an SQS event source mapping was created
MappingHook = Callable[[str, str, int], None]

_lock = threading.Lock()
_state: dict[str, Any] = {"installed": False, "invoker": None, "on_run": None, "on_stop": None, "on_mapping": None}


def install(*, invoker: Invoker | None = None, on_run_task: RunTaskHook | None = None,
            on_stop_task: StopTaskHook | None = None, on_event_source_mapping: MappingHook | None = None) -> None:
    """Apply the patches (once per process) and set the dispatcher, runner and event source mapping hooks.

    Calling again replaces the hooks. Raises RuntimeError on a moto version the patches were not
    written for: each must be re-checked against the new version's source before the pin moves.
    """
    if moto.__version__ != MOTO_VERSION:
        raise RuntimeError(f"chalicelib.local.moto_fixes targets moto {MOTO_VERSION}, found {moto.__version__}")
    with _lock:
        _state.update(invoker=invoker, on_run=on_run_task, on_stop=on_stop_task, on_mapping=on_event_source_mapping)
        if _state["installed"]:
            return
        _patch_ecs_normalisation()
        _patch_fresh_token_on_retry()
        _patch_early_answer()
        _patch_parallel_states_errors()
        _patch_task_failure_cause()
        _patch_heartbeat_error_name()
        _patch_stopped_stays_stopped()
        _patch_client_cache()
        _patch_lambda_invoke()
        _patch_ecs_hooks()
        _load_managed_policies()
        _patch_redrive_allow_policy()
        _patch_state_machine_validation_and_versions()
        _patch_task_level_memory()
        _patch_conditional_bucket_policy()
        _patch_event_source_mappings()
        _patch_ecs_capacity_provider_strategy()
        _state["installed"] = True


# -- 1. ECS parameter and response normalisation (getmoto/moto#10076) -----------------------------
@functools.lru_cache(maxsize=64)
def _operation_model(service: str, action_snake: str) -> Any:
    """botocore's operation model, loaded once (a new session re-reads the service JSON: ~50 ms)."""
    from botocore.session import get_session
    from moto.stepfunctions.parser.utils import camel_to_snake_case

    model = get_session().get_service_model(service)
    for name in model.operation_names:
        if camel_to_snake_case(name) == action_snake:
            return model.operation_model(name)
    raise KeyError(f"{service} has no operation {action_snake}")


def _patch_ecs_normalisation() -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_ecs import (
        StateTaskServiceEcs,
    )

    def normalise_parameters(self: Any, parameters: dict[str, Any], boto_service_name: str | None = None,
                             service_action_name: str | None = None) -> None:
        operation = _operation_model(self._get_boto_service_name(boto_service_name),
                                     self._get_boto_service_action(service_action_name))
        if operation.input_shape is not None:
            self._to_boto_request(parameters, operation.input_shape)

    def normalise_response(self: Any, response: Any, boto_service_name: str | None = None,
                           service_action_name: str | None = None) -> None:
        operation = _operation_model(self._get_boto_service_name(boto_service_name),
                                     self._get_boto_service_action(service_action_name))
        if operation.output_shape is not None:
            self._from_boto_response(response, operation.output_shape)

    setattr(StateTaskServiceEcs, "_normalise_parameters", normalise_parameters)  # noqa: B010
    setattr(StateTaskServiceEcs, "_normalise_response", normalise_response)  # noqa: B010


# -- 2. a fresh task token for every attempt of a .waitForTaskToken state --------------------------
def _patch_fresh_token_on_retry() -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import ResourceCondition
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_callback import (
        StateTaskServiceCallback,
    )

    original = StateTaskServiceCallback._evaluate_with_timeout

    @functools.wraps(original)
    def evaluate_with_timeout(self: Any, env: Any) -> None:
        context = env.states.context_object
        retry_count = context.context_object_data.get("State", {}).get("RetryCount", 0)
        if retry_count and self._is_integration_pattern() and \
                self.resource.condition == ResourceCondition.WaitForTaskToken:
            env.callback_pool_manager.add(context.update_task_token())
        original(self, env)

    setattr(StateTaskServiceCallback, "_evaluate_with_timeout", evaluate_with_timeout)  # noqa: B010


# -- 5. an answer that arrives before the heartbeat endpoint exists -------------------------------
def _patch_early_answer() -> None:
    from moto.stepfunctions.parser.asl.eval.callback.callback import CallbackEndpoint

    original = CallbackEndpoint.setup_heartbeat_endpoint

    @functools.wraps(original)
    def setup_heartbeat_endpoint(self: Any, heartbeat_seconds: int) -> Any:
        endpoint = original(self, heartbeat_seconds)
        if self.get_outcome() is not None:
            endpoint.notify()  # type: ignore[no-untyped-call]
        return endpoint

    def notify_heartbeat(self: Any) -> bool:
        if self._heartbeat_endpoint is None:
            return True  # accepted; the waiting state has not started its heartbeat clock yet
        self._heartbeat_endpoint.notify()
        return True

    setattr(CallbackEndpoint, "setup_heartbeat_endpoint", setup_heartbeat_endpoint)  # noqa: B010
    setattr(CallbackEndpoint, "notify_heartbeat", notify_heartbeat)  # noqa: B010


# -- 6. States.* errors out of Parallel branches ---------------------------------------------------
def _patch_parallel_states_errors() -> None:
    from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.state.exec.state_parallel import branches_decl

    def error_name(error_name: str | None) -> Any:
        if error_name is not None and error_name.startswith("States."):
            try:
                return StatesErrorName.from_name(error_name)
            except ValueError:
                pass
        return CustomErrorName(error_name=error_name)

    setattr(branches_decl, "CustomErrorName", error_name)  # noqa: B010


# -- 7. SendTaskFailure keeps its cause ------------------------------------------------------------
def _patch_task_failure_cause() -> None:
    from moto.core.responses import EmptyResult
    from moto.stepfunctions.responses import StepFunctionResponse

    def send_task_failure(self: Any) -> Any:
        self.stepfunction_backend.send_task_failure(self._get_param("taskToken"), error=self._get_param("error"),
                                                    cause=self._get_param("cause"))
        return EmptyResult()

    setattr(StepFunctionResponse, "send_task_failure", send_task_failure)  # noqa: B010


# -- 8. States.HeartbeatTimeout -----------------------------------------------------------------------
def _patch_heartbeat_error_name() -> None:
    from moto.stepfunctions.parser.api import HistoryEventType, TaskTimedOutEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEvent
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_callback import (
        StateTaskServiceCallback,
    )
    from moto.stepfunctions.parser.asl.eval.callback.callback import HeartbeatTimeoutError
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    original = StateTaskServiceCallback._from_error

    @functools.wraps(original)
    def from_error(self: Any, env: Any, ex: Exception) -> Any:
        if isinstance(ex, HeartbeatTimeoutError):
            name = StatesErrorNameType.StatesHeartbeatTimeout
            return FailureEvent(env=env, error_name=StatesErrorName(typ=name), event_type=HistoryEventType.TaskTimedOut,
                                event_details=EventDetails(taskTimedOutEventDetails=TaskTimedOutEventDetails(  # type: ignore[typeddict-item]
                                    resourceType=self._get_sfn_resource_type(), resource=self._get_sfn_resource(),
                                    error=name.to_name())))
        return original(self, env, ex)

    setattr(StateTaskServiceCallback, "_from_error", from_error)  # noqa: B010


# -- 9. a stopped execution stays stopped -----------------------------------------------------------
def _patch_stopped_stays_stopped() -> None:
    from moto.stepfunctions.parser.asl.eval.environment import Environment
    from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped

    original = Environment.set_error

    @functools.wraps(original)
    def set_error(self: Any, error: Any) -> None:
        if isinstance(self.program_state(), ProgramStopped):
            return
        original(self, error)

    setattr(Environment, "set_error", set_error)  # noqa: B010

    original_stop = Environment.set_stop

    @functools.wraps(original_stop)
    def set_stop(self: Any, stop_date: Any, cause: str | None, error: str | None) -> None:
        original_stop(self, stop_date, cause, error)
        pool = getattr(self.callback_pool_manager, "_pool", {})
        for endpoint in list(pool.values()):  # wake every wait: the waiter then sees the program stopped
            endpoint.interrupt_all()

    setattr(Environment, "set_stop", set_stop)  # noqa: B010

    from moto.stepfunctions.parser.asl.component.program.program import Program

    original_eval = Program.eval

    @functools.wraps(original_eval)
    def eval_program(self: Any, env: Any) -> None:
        if isinstance(env.program_state(), ProgramStopped):
            return  # a branch opened after the stop: nothing to run, and its worker reports it ended
        original_eval(self, env)

    setattr(Program, "eval", eval_program)  # noqa: B010


# -- 3. one boto3 client per (region, service), to 127.0.0.1 --------------------------------------
def _patch_client_cache() -> None:
    import boto3
    from botocore.config import Config
    from moto.core.models import botocore_stubber
    from moto.settings import moto_server_port
    from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import TimeoutSeconds
    from moto.stepfunctions.parser.asl.utils import boto_client as module

    cache: dict[tuple[str, str, bool, str], Any] = {}
    cache_lock = threading.Lock()

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        stubbed = bool(botocore_stubber.enabled)
        port = moto_server_port()
        key = (region, service, stubbed, port)
        with cache_lock:
            client = cache.get(key)
            if client is None:
                kwargs: dict[str, Any] = {} if stubbed else {"endpoint_url": f"http://127.0.0.1:{port}"}
                client = boto3.client(
                    service_name=service, region_name=region, aws_access_key_id="ak", aws_secret_access_key="sk",  # noqa: S106 - moto fake
                    config=Config(parameter_validation=False, retries={"max_attempts": 0, "total_max_attempts": 1},
                                  connect_timeout=TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS,
                                  read_timeout=TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS,
                                  max_pool_connections=50),
                    **kwargs,
                )
                cache[key] = client
        return client

    setattr(module, "boto_client_for", boto_client_for)  # noqa: B010
    # The modules that imported the function by name keep their own reference: rebind those too.
    import importlib

    for name in _CLIENT_USERS:
        setattr(importlib.import_module(name), "boto_client_for", boto_client_for)  # noqa: B010


_EXEC = "moto.stepfunctions.parser.asl.component.state.exec"
_CLIENT_USERS = (
    f"{_EXEC}.state_map.result_writer.resource_eval.resource_eval_s3",
    f"{_EXEC}.state_map.item_reader.eval.resource_eval_s3",
    f"{_EXEC}.state_task.lambda_eval_utils",
    *(f"{_EXEC}.state_task.service.state_task_service_{service}" for service in (
        "unsupported", "glue", "events", "ecs", "sqs", "sfn", "dynamodb", "batch", "sns", "aws_sdk")),
)


# -- 4. Lambda invocations go to the in-process dispatcher ----------------------------------------
def _patch_lambda_invoke() -> None:
    from moto.awslambda.models import LambdaFunction

    original = LambdaFunction.invoke

    def invoke(self: Any, body: Any, request_headers: Any, response_headers: Any) -> str | bytes:
        invoker: Invoker | None = _state["invoker"]
        if invoker is None:
            return original(self, body, request_headers, response_headers)
        raw = body if isinstance(body, bytes) else (body or "{}").encode()
        payload, error = invoker(self.handler, raw, self.function_name)
        if error:
            response_headers["x-amz-function-error"] = error
        return payload

    setattr(LambdaFunction, "invoke", invoke)  # noqa: B010


# -- 10. ECS tasks are run by the local Fargate runner ---------------------------------------------
def _patch_ecs_hooks() -> None:
    from moto.ecs.models import EC2ContainerServiceBackend

    original_run = EC2ContainerServiceBackend.run_task
    original_stop = EC2ContainerServiceBackend.stop_task

    def run_task(self: Any, *args: Any, **kwargs: Any) -> Any:
        tasks = original_run(self, *args, **kwargs)
        hook: RunTaskHook | None = _state["on_run"]
        if hook is not None:
            for task in tasks:
                hook(task.cluster_arn, task.task_arn, _container_environment(task))
        return tasks

    def stop_task(self: Any, cluster_str: str, task_str: str, reason: str) -> Any:
        task = original_stop(self, cluster_str, task_str, reason)
        hook: StopTaskHook | None = _state["on_stop"]
        if hook is not None:
            hook(task.task_arn)
        return task

    setattr(EC2ContainerServiceBackend, "run_task", run_task)  # noqa: B010
    setattr(EC2ContainerServiceBackend, "stop_task", stop_task)  # noqa: B010


def _container_environment(task: Any) -> dict[str, str]:
    """The environment of the task's container: task-definition values, then the RunTask overrides."""
    containers = getattr(task, "containers", None) or []
    name = getattr(containers[0], "name", None) if containers else None
    env = {str(p["name"]): str(p["value"]) for p in (getattr(containers[0], "environment", None) or [])} \
        if containers else {}
    for override in (task.overrides or {}).get("containerOverrides", []):
        if override.get("name") in (name, None):
            env.update({str(p["name"]): str(p["value"]) for p in override.get("environment", [])})
    return env


# -- 11. AWS managed IAM policies ------------------------------------------------------------------
def _load_managed_policies() -> None:
    from moto.core.config import default_user_config

    # What MOTO_IAM_LOAD_MANAGED_POLICIES=true does; read when an account's IAM backend is created.
    default_user_config.setdefault("iam", {})["load_aws_managed_policies"] = True


# -- 12. SQS RedriveAllowPolicy is returned ----------------------------------------------------------
def _patch_redrive_allow_policy() -> None:
    from moto.sqs.models import Queue

    if "RedriveAllowPolicy" not in Queue.BASE_ATTRIBUTES:
        Queue.BASE_ATTRIBUTES.append("RedriveAllowPolicy")  # a valid name for GetQueueAttributes
    setattr(Queue, "redrive_allow_policy", None)  # noqa: B010 - the default of a queue created without it
    original = Queue.attributes.fget  # type: ignore[attr-defined]

    def attributes(self: Any) -> dict[str, Any]:
        result: dict[str, Any] = original(self)
        if result.get("RedriveAllowPolicy") is None:
            result.pop("RedriveAllowPolicy", None)
        return result

    setattr(Queue, "attributes", property(attributes))  # noqa: B010


# -- 13. ValidateStateMachineDefinition, ListStateMachineVersions ------------------------------------
def _patch_state_machine_validation_and_versions() -> None:
    from moto.core.responses import ActionResult
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
    from moto.stepfunctions.responses import StepFunctionResponse

    def validate_state_machine_definition(self: Any) -> Any:
        try:
            AmazonStateLanguageParser.parse(self._get_param("definition"))
        except Exception as exc:  # any parse error is a diagnostic, as in AWS
            diagnostic = {"severity": "ERROR", "code": "SCHEMA_VALIDATION_FAILED", "message": str(exc)[:1000]}
            return ActionResult({"result": "FAIL", "diagnostics": [diagnostic], "truncated": False})
        return ActionResult({"result": "OK", "diagnostics": [], "truncated": False})

    def list_state_machine_versions(self: Any) -> Any:
        machine = self.stepfunction_backend.describe_state_machine(self._get_param("stateMachineArn"))
        versions = sorted(machine.versions.values(), key=lambda v: v.version, reverse=True)
        return ActionResult({"stateMachineVersions": [
            {"stateMachineVersionArn": v.arn, "creationDate": v.creation_date} for v in versions]})

    setattr(StepFunctionResponse, "validate_state_machine_definition", validate_state_machine_definition)  # noqa: B010
    setattr(StepFunctionResponse, "list_state_machine_versions", list_state_machine_versions)  # noqa: B010


# -- 14. RunTask with task-level cpu and memory only ----------------------------------------------------
def _patch_task_level_memory() -> None:
    from types import SimpleNamespace

    from moto.ecs.models import EC2ContainerServiceBackend

    original = EC2ContainerServiceBackend._calculate_task_resource_requirements

    def requirements(task_definition: Any) -> dict[str, Any]:
        keys = ("memory", "Memory", "memoryReservation", "MemoryReservation")
        containers = [cd if any(k in cd for k in keys) else {**cd, "memory": 0}
                      for cd in task_definition.container_definitions]
        result: dict[str, Any] = original(SimpleNamespace(container_definitions=containers))  # type: ignore[arg-type]
        for name, attribute in (("MEMORY", "memory"), ("CPU", "cpu")):
            task_level = getattr(task_definition, attribute, None)
            if not result[name] and task_level:
                result[name] = int(task_level)
        return result

    setattr(EC2ContainerServiceBackend, "_calculate_task_resource_requirements", staticmethod(requirements))  # noqa: B010


# -- 15. bucket-policy statements with a Condition -----------------------------------------------------
def _patch_conditional_bucket_policy() -> None:
    import json

    from moto.iam.access_control import IAMPolicy, PermissionResult
    from moto.s3.models import FakeBucket

    def get_permission(self: Any, action: str, resource: str) -> Any:
        if self.policy is None:
            return PermissionResult.NEUTRAL
        policy = json.loads(self.policy)
        statements = policy.get("Statement") or []
        # moto has no request context (aws:SecureTransport, signature age, ...) to evaluate a Condition
        # against: such a statement does not apply, instead of denying every request.
        policy["Statement"] = [s for s in (statements if isinstance(statements, list) else [statements])
                               if "Condition" not in s]
        return IAMPolicy(json.dumps(policy)).is_action_permitted(action, resource)

    setattr(FakeBucket, "get_permission", get_permission)  # noqa: B010


# -- 16. SQS event source mappings go to the hook -----------------------------------------------------
def _patch_event_source_mappings() -> None:
    from moto.awslambda.models import LambdaBackend
    from moto.sqs.models import sqs_backends

    original = LambdaBackend.create_event_source_mapping

    def create_event_source_mapping(self: Any, spec: dict[str, Any]) -> Any:
        esm = original(self, spec)
        hook: MappingHook | None = _state["on_mapping"]
        if hook is None or ":sqs:" not in esm.event_source_arn:
            return esm
        for queue in sqs_backends[self.account_id][self.region_name].queues.values():
            if queue.queue_arn == esm.event_source_arn:
                queue.lambda_event_source_mappings.pop(esm.function_arn, None)
        hook(esm.function_arn, esm.event_source_arn, int(esm.batch_size))
        return esm

    setattr(LambdaBackend, "create_event_source_mapping", create_event_source_mapping)  # noqa: B010


# -- 17. ECS RunTask keeps its CapacityProviderStrategy (scanner tasks on Fargate Spot) ------------------
def _patch_ecs_capacity_provider_strategy() -> None:
    """moto 5.2.5 drops `CapacityProviderStrategy` from an `ecs:runTask` state's Parameters.

    The interpreter keeps only the keys of its `_SUPPORTED_API_PARAM_BINDINGS["runtask"]` set (copied
    from LocalStack) and silently pops the rest, so the scanner tasks reached RunTask with no strategy
    and ran on the cluster default. AWS Step Functions passes it through (the CDK's EcsRunTask emits it,
    `CapacityProviderOptions.custom`); moto's ECS backend already honours it. Added to the set.
    Upstream text: docs/moto-upstream.md (lead: add the entry, "RunTask CapacityProviderStrategy").
    """
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_ecs

    state_task_service_ecs._SUPPORTED_API_PARAM_BINDINGS["runtask"].add("CapacityProviderStrategy")
