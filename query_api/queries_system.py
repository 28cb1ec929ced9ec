"""SQL of the system reports (health, summary's resources, system metrics, capacity forecast):
named and parameterised (``$name``), time filters half-open like ``queries.py``."""

# The newest sample of each host that sampled since $since, every figure from that one row.
LATEST_HOST_SAMPLES = """
SELECT host_name, timestamp, cpu_percent, memory_percent, memory_available_bytes, disk_percent,
       disk_free_bytes, process_rss_bytes, process_threads, process_open_files, request_rate,
       source
FROM system_samples
WHERE timestamp >= $since
QUALIFY row_number() OVER (PARTITION BY host_name ORDER BY timestamp DESC) = 1
ORDER BY host_name
"""

# The newest sample of each application process of the hosts that sampled since $since.
LATEST_PROCESS_SAMPLES = """
SELECT host_name, service_name, service_instance, pid, timestamp, cpu_percent, rss_bytes,
       threads, open_files
FROM process_samples
WHERE timestamp >= $since
QUALIFY row_number() OVER (PARTITION BY host_name, service_instance ORDER BY timestamp DESC) = 1
ORDER BY host_name, service_name, pid
LIMIT $limit
"""

# The newest $limit samples of the period (the report shows them oldest first).
SYSTEM_SAMPLES_PAGE = """
SELECT timestamp, host_name, cpu_percent, memory_percent, memory_available_bytes, disk_percent,
       disk_free_bytes, process_rss_bytes, process_threads, process_open_files, request_rate,
       source
FROM system_samples
WHERE timestamp >= $start AND timestamp < $end
ORDER BY timestamp DESC, host_name DESC
LIMIT $limit
"""

SYSTEM_AVERAGES = """
SELECT count(*) AS samples, count(DISTINCT host_name) AS hosts,
       avg(cpu_percent) AS avg_cpu_percent, max(cpu_percent) AS max_cpu_percent,
       avg(memory_percent) AS avg_memory_percent, max(memory_percent) AS max_memory_percent,
       avg(disk_percent) AS avg_disk_percent, max(disk_percent) AS max_disk_percent
FROM system_samples
WHERE timestamp >= $start AND timestamp < $end
"""

# Instances (processes) and services that sent a heartbeat since $since.
LIVE_COUNTS = """
SELECT count(DISTINCT instance_id) AS instances, count(DISTINCT service_name) AS services
FROM service_instances
WHERE last_seen >= $since
"""

# The capacity forecast's series: bucket i covers [$start + i*$bucket_us, ... + $bucket_us),
# only whole buckets before $end. Requests by start time, weighted.
FORECAST_REQUESTS = """
SELECT (epoch_us(timestamp) - epoch_us(CAST($start AS TIMESTAMP))) // $bucket_us AS bucket,
       sum(weight) AS requests
FROM requests
WHERE timestamp >= $start AND timestamp < $end
GROUP BY bucket
ORDER BY bucket
"""

# CPU and memory: the mean over every host's samples in the bucket (the fleet's average).
FORECAST_SYSTEM = """
SELECT (epoch_us(timestamp) - epoch_us(CAST($start AS TIMESTAMP))) // $bucket_us AS bucket,
       avg(cpu_percent) AS cpu_percent, avg(memory_percent) AS memory_percent
FROM system_samples
WHERE timestamp >= $start AND timestamp < $end
GROUP BY bucket
ORDER BY bucket
"""
