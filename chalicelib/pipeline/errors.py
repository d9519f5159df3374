"""Errors the pipeline's Lambda steps raise; the class name is the `errorType` the ASL's Retry/Catch match."""

from __future__ import annotations


class PipelineError(Exception):
    """Base of the errors a pipeline step raises on purpose."""


class ScanTerminal(PipelineError):
    """The scan is already cancelled, failed or complete: the execution stops quietly (ASL: Stopped)."""


class StepContention(PipelineError):
    """The scan record kept changing under the step; Step Functions retries the step."""


class EvidenceInvalid(PipelineError):
    """A scanner task's evidence is missing, unreadable, tampered with or not for this scan."""


class BadStepInput(PipelineError):
    """The state handed to a step is not what the ASL sends (a definition/handler mismatch)."""
