"""The access log: every request for performance data, allowed or not, on ``otel_perf.access``.

Who (a user id, or a token's role and hash prefix, or the client IP; never a token), when,
which report, and the status answered. Public reports (health) are not logged.
"""

from __future__ import annotations

import logging
from datetime import datetime

from query_api.auth import Principal
from query_api.envelope import utc_timestamp

logger = logging.getLogger("otel_perf.access")


def record(principal: Principal, report: str, status: int, when: datetime) -> None:
    logger.info(
        "who=%s role=%s report=%s status=%d at=%s",
        principal.identity,
        principal.role,
        report,
        status,
        utc_timestamp(when),
    )
