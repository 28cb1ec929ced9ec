"""The sampler's SQL (named, parameterised; run on the writer's connection)."""

# The application processes of one host: every instance that sent a heartbeat since $since
# (heartbeats come every minute). Whether each is still alive is psutil's to say.
HOST_INSTANCES = """
SELECT instance_id, any_value(service_name) AS service_name, arg_max(pid, last_seen) AS pid,
       min(started_at) AS started_at
FROM service_instances
WHERE host_name = $host AND last_seen >= $since
GROUP BY instance_id
ORDER BY instance_id
"""

# Requests of one host that ended in [$start, $end) (weighted). By end time: a request is
# stored when it ends, so a window that closed a little while ago is complete. $scan_from
# bounds the scan by start time (a request longer than that margin is not counted).
HOST_REQUESTS = """
SELECT coalesce(sum(weight), 0)
FROM requests
WHERE host_name = $host AND timestamp >= $scan_from AND timestamp < $end
  AND timestamp + to_microseconds(CAST(duration_ms * 1000 AS BIGINT)) >= $start
  AND timestamp + to_microseconds(CAST(duration_ms * 1000 AS BIGINT)) < $end
"""
