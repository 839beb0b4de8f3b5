"""The teaching lab: the classic Docker networking situations, built on the local engine and removed exactly.

`lab_up`, `lab_down` and `lab_status` are the whole interface; the product itself never imports this package.
"""

from dockwire.lab.build import lab_down, lab_status, lab_up
from dockwire.lab.report import LabError, LabObject, LabReport

__all__ = ["LabError", "LabObject", "LabReport", "lab_down", "lab_status", "lab_up"]
