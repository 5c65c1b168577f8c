"""The workflow rules GW001-GW006, one module each: patterns that make a CI gate report
success it did not earn. :data:`RULES` maps codes to rule classes, in code order."""

from __future__ import annotations

from scanners.workflow.rules.gw001_masked_exit import MaskedExit
from scanners.workflow.rules.gw002_continue_on_error import ContinueOnError
from scanners.workflow.rules.gw003_no_timeout import NoTimeout
from scanners.workflow.rules.gw004_collection_errors_tolerated import CollectionErrorsTolerated
from scanners.workflow.rules.gw005_gate_disabled import GateDisabled
from scanners.workflow.rules.gw006_pipe_without_pipefail import PipeWithoutPipefail
from scanners.workflow.rules.workflow_rule import WorkflowRule, WorkflowViolation

__all__ = ["RULES", "WorkflowRule", "WorkflowViolation"]

RULES: dict[str, type[WorkflowRule]] = {
    rule.code: rule
    for rule in (
        MaskedExit,
        ContinueOnError,
        NoTimeout,
        CollectionErrorsTolerated,
        GateDisabled,
        PipeWithoutPipefail,
    )
}
