"""No tables: one unmanaged model only so that Django has a permission to grant.

``otel_perf.view_performance`` lets a user read the performance reports (staff and
superusers read them without it). The data itself lives in otel-perf's store, not in the
app's database.
"""

from django.db import models


class PerformanceAccess(models.Model):
    class Meta:
        managed = False
        default_permissions = ()
        permissions = [("view_performance", "Can view performance data")]
