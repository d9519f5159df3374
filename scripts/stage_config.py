"""Write a deployed stage's environment into .chalice/config.json from Terraform's outputs.

`make stage-config STAGE=prod` runs `terraform -chdir=infra/terraform output -json` and copies the
`lambda_environment` output (the Lambdas' non-secret settings) into
`stages.<stage>.environment_variables`. Secrets (PERIMETER_KEY_PEPPER, PERIMETER_WEBHOOK_SECRET_KEY,
PERIMETER_REPORT_SIGNING_KEY, PERIMETER_BREACH_API_KEY) are never written: Terraform does not output
them and this script refuses them. Other stages and other keys of the stage are kept.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / ".chalice" / "config.json"
TERRAFORM_DIR = ROOT / "infra" / "terraform"
OUTPUT_NAME = "lambda_environment"
SECRETS = frozenset({
    "PERIMETER_KEY_PEPPER", "PERIMETER_WEBHOOK_SECRET_KEY", "PERIMETER_REPORT_SIGNING_KEY",
    "PERIMETER_BREACH_API_KEY", "PERIMETER_BOOTSTRAP_API_KEY",
})
LOCAL_ONLY = frozenset({"PERIMETER_PORT", "PERIMETER_BOOTSTRAP_API_KEY", "AWS_ENDPOINT_URL"})


class StageConfigError(Exception):
    """The outputs or the config file cannot be used."""


def known_variables() -> frozenset[str]:
    """Every environment variable Settings reads (chalicelib/core/settings.py ENV_VARS)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from chalicelib.core.settings import ENV_VARS

    return frozenset(ENV_VARS)


def terraform_outputs(terraform_dir: Path) -> dict[str, Any]:
    """`terraform output -json` of a deployed configuration; raises StageConfigError."""
    try:
        result = subprocess.run(  # noqa: S603
            ["terraform", f"-chdir={terraform_dir}", "output", "-json"],  # noqa: S607
            capture_output=True, text=True, timeout=120, check=False,
        )
    except FileNotFoundError as exc:
        raise StageConfigError("terraform is not on PATH") from exc
    if result.returncode != 0:
        raise StageConfigError(f"terraform output failed: {result.stderr.strip()[-500:]}")
    return _parse_outputs(result.stdout, "terraform output")


def _parse_outputs(text: str, source: str) -> dict[str, Any]:
    try:
        outputs = json.loads(text)
    except json.JSONDecodeError as exc:
        raise StageConfigError(f"{source}: not JSON ({exc})") from exc
    if not isinstance(outputs, dict) or not outputs:
        raise StageConfigError(f"{source}: no outputs (was `terraform apply` run?)")
    return outputs


def environment_from_outputs(outputs: Mapping[str, Any], known: frozenset[str]) -> dict[str, str]:
    """The stage environment in the outputs' `lambda_environment`; raises StageConfigError.

    Refuses a sensitive output, a secret, a local-only variable and any name Settings does not know.
    """
    entry = outputs.get(OUTPUT_NAME)
    if not isinstance(entry, dict) or "value" not in entry:
        raise StageConfigError(f"output {OUTPUT_NAME!r} missing: outputs are {sorted(outputs)}")
    if entry.get("sensitive"):
        raise StageConfigError(f"output {OUTPUT_NAME!r} is sensitive; it must hold no secret")
    value = entry["value"]
    if not isinstance(value, dict):
        raise StageConfigError(f"output {OUTPUT_NAME!r} is not a map")
    env: dict[str, str] = {}
    for name, raw in sorted(value.items()):
        if name in SECRETS:
            raise StageConfigError(f"{name} is a secret and must not be written to .chalice/config.json")
        if name in LOCAL_ONLY:
            raise StageConfigError(f"{name} is for the local stack only")
        if name not in known:
            raise StageConfigError(f"{name} is not a setting of chalicelib/core/settings.py ENV_VARS")
        if not isinstance(raw, str | int | float) or isinstance(raw, bool):
            raise StageConfigError(f"{name}: expected a string, got {type(raw).__name__}")
        env[name] = str(raw)
    return env


def update_config(config: dict[str, Any], stage: str, env: Mapping[str, str]) -> dict[str, Any]:
    """Config with `stages.<stage>.environment_variables` updated by `env` (its other keys kept)."""
    stages = config.setdefault("stages", {})
    if not isinstance(stages, dict):
        raise StageConfigError("'stages' in the Chalice config is not an object")
    entry = stages.setdefault(stage, {"api_gateway_stage": "api"})
    variables = entry.setdefault("environment_variables", {})
    variables.update(env)
    variables["PERIMETER_STAGE"] = env.get("PERIMETER_STAGE", stage)
    entry["environment_variables"] = dict(sorted(variables.items()))
    return config


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--stage", required=True, help="the Chalice stage to write (e.g. prod)")
    parser.add_argument("--outputs-json", type=Path, help="a saved `terraform output -json` (default: run it)")
    parser.add_argument("--terraform-dir", type=Path, default=TERRAFORM_DIR)
    parser.add_argument("--config", type=Path, default=CONFIG, help="the Chalice config to update")
    return parser


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; exit 1 with a message on StageConfigError."""
    args = _parser().parse_args(argv)
    try:
        if args.stage == "local":
            raise StageConfigError("the local stage is configured by the embedded stack, not by Terraform")
        if args.outputs_json is not None:
            outputs = _parse_outputs(args.outputs_json.read_text(), str(args.outputs_json))
        else:
            outputs = terraform_outputs(args.terraform_dir)
        env = environment_from_outputs(outputs, known_variables())
        config = json.loads(args.config.read_text()) if args.config.exists() else {"version": "2.0"}
        updated = update_config(config, args.stage, env)
    except (StageConfigError, OSError, json.JSONDecodeError) as exc:
        print(f"stage-config: {exc}", file=sys.stderr)
        return 1
    args.config.parent.mkdir(parents=True, exist_ok=True)
    args.config.write_text(json.dumps(updated, indent=2) + "\n")
    print(json.dumps({"config": str(args.config), "stage": args.stage, "variables": sorted(env)}, indent=2))
    print("stage-config: secrets (PERIMETER_KEY_PEPPER, PERIMETER_WEBHOOK_SECRET_KEY, ...) are not written; "
          "export them in the shell that runs chalice or the admin CLI.", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
