"""System health (seed 001, glossary): ``healthy``, ``warning``, ``critical`` or ``unknown``.

A resource is at ``warning`` above its first threshold and ``critical`` above its second
(strictly above, as seed 001 writes them: CPU ">70 % warning, >90 % critical"; 70.0 % exactly
is still healthy). The host's level is its worst resource's; a resource with no figure is not
judged, and a host with no figure at all (no sample) is ``unknown``.

| resource | warning | critical |
|---|---|---|
| CPU | > 70 % | > 90 % |
| memory | > 70 % | > 90 % |
| disk (the store's data folder) | > 80 % | > 95 % |
"""

from __future__ import annotations

LEVELS = ("healthy", "warning", "critical")
UNKNOWN = "unknown"
# Worst last: the order reports sort hosts by.
ORDER = (UNKNOWN, *LEVELS)

THRESHOLDS: dict[str, tuple[float, float]] = {
    "cpu": (70.0, 90.0),
    "memory": (70.0, 90.0),
    "disk": (80.0, 95.0),
}


def resource_level(resource: str, percent: float | None) -> str:
    """One resource's level; ``unknown`` without a figure."""
    if percent is None:
        return UNKNOWN
    warning, critical = THRESHOLDS[resource]
    if percent > critical:
        return "critical"
    return "warning" if percent > warning else "healthy"


def resource_levels(cpu: float | None, memory: float | None, disk: float | None) -> dict[str, str]:
    return {
        "cpu": resource_level("cpu", cpu),
        "memory": resource_level("memory", memory),
        "disk": resource_level("disk", disk),
    }


def system_health(cpu: float | None, memory: float | None, disk: float | None) -> str:
    """The worst level among the known resources; ``unknown`` when none is known."""
    return worst(resource_levels(cpu, memory, disk).values())


def worst(levels) -> str:
    """The worst of several levels, ``unknown`` counting least (a known level wins)."""
    return max(levels, key=ORDER.index, default=UNKNOWN)
