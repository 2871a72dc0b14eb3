"""Shapes of the foreign SLO specs githeal reads: Sloth ``prometheus/v1`` and OpenSLO v1 (SLI, SLO).

Only the fields githeal uses are declared and type-checked; other keys are ignored, since these
files also feed Sloth, Pyrra or vendors. Field names keep the specs' own spelling (camelCase).
Shapes only: the meaning (queries, windows, app mapping) lives in ``slofiles``.
"""

from __future__ import annotations

from typing import Any, Literal

import pydantic
from pydantic import ConfigDict, Field


class _Open(pydantic.BaseModel):
    """Foreign specs: ignore keys githeal does not use, but type-check the ones it does."""

    model_config = ConfigDict(extra="ignore", strict=True, frozen=True, defer_build=True)


class SlothEvents(_Open):
    error_query: str
    total_query: str


class SlothSLI(_Open):
    events: SlothEvents | None = None
    raw: dict[str, Any] | None = None
    plugin: dict[str, Any] | None = None


class SlothAlert(_Open):
    disable: bool = False


class SlothAlerting(_Open):
    page_alert: SlothAlert = SlothAlert()
    ticket_alert: SlothAlert = SlothAlert()


class SlothSLO(_Open):
    name: str
    objective: float
    labels: dict[str, str] = Field(default_factory=dict)
    sli: SlothSLI
    alerting: SlothAlerting = SlothAlerting()


class SlothSpec(_Open):
    version: str | None = None
    service: str
    labels: dict[str, str] = Field(default_factory=dict)
    slos: list[SlothSLO] = Field(min_length=1)


class OSQuery(_Open):
    query: str


class OSSource(_Open):
    type: str = "Prometheus"
    spec: OSQuery | None = None
    metricSourceRef: str | None = None  # noqa: N815 (OpenSLO spelling)


class OSMetric(_Open):
    metricSource: OSSource  # noqa: N815


class OSRatio(_Open):
    counter: bool = False
    good: OSMetric | None = None
    bad: OSMetric | None = None
    total: OSMetric | None = None
    raw: dict[str, Any] | None = None


class OSSLISpec(_Open):
    ratioMetric: OSRatio | None = None  # noqa: N815
    thresholdMetric: OSMetric | None = None  # noqa: N815


class OSMeta(_Open):
    name: str
    labels: dict[str, Any] = Field(default_factory=dict)


class OSSLI(_Open):
    metadata: OSMeta
    spec: OSSLISpec


class OSWindow(_Open):
    duration: str
    isRolling: bool = True  # noqa: N815


class OSObjective(_Open):
    displayName: str = ""  # noqa: N815
    target: float | None = None
    targetPercent: float | None = None  # noqa: N815
    op: Literal["lte", "lt", "gte", "gt"] | None = None
    value: float | None = None


class OSSLOSpec(_Open):
    service: str = ""
    indicatorRef: str | None = None  # noqa: N815
    indicator: OSSLI | None = None
    budgetingMethod: str  # noqa: N815
    timeWindow: list[OSWindow] = Field(min_length=1, max_length=1)  # noqa: N815
    objectives: list[OSObjective] = Field(min_length=1)


class OSSLO(_Open):
    metadata: OSMeta
    spec: OSSLOSpec
