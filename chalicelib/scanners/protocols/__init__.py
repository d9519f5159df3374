"""Protocol probes: per-service checks that speak FTP, SSH, Redis, MongoDB, Elasticsearch and memcached.

Each check is `(service, ctx) -> list[Finding]` (an `exposure.ServiceCheck`), returns [] for a service
it does not handle, connects only to guard-allowed addresses, and reads server information only.
"""

from __future__ import annotations

from chalicelib.scanners.protocols.elasticsearch import check_elasticsearch
from chalicelib.scanners.protocols.ftp import check_ftp
from chalicelib.scanners.protocols.memcached import check_memcached
from chalicelib.scanners.protocols.mongodb import check_mongodb
from chalicelib.scanners.protocols.redis import check_redis
from chalicelib.scanners.protocols.ssh import check_ssh

PROTOCOL_CHECKS = (check_ftp, check_ssh, check_redis, check_mongodb, check_elasticsearch, check_memcached)

__all__ = ["PROTOCOL_CHECKS", "check_elasticsearch", "check_ftp", "check_memcached", "check_mongodb",
           "check_redis", "check_ssh"]
