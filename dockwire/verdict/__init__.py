"""The static verdict engine: model in, verdict out.

`evaluate(model, src, dst, proto="icmp", port=None) -> Verdict` answers "can SRC reach DST, and if not,
exactly what stops it?"; `resolve_endpoint(model, text)` turns SRC/DST text into a FlowEnd. Both are pure.
"""

from dockwire.verdict.endpoints import EndpointError, FlowEnd, resolve_endpoint
from dockwire.verdict.records import Verdict
from dockwire.verdict.verdict import VerdictError, evaluate

__all__ = ["EndpointError", "FlowEnd", "Verdict", "VerdictError", "evaluate", "resolve_endpoint"]
