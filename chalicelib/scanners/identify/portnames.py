"""The conventional service name of well-known TCP ports (what a port is called before it is identified)."""

from __future__ import annotations

SERVICES: dict[int, str] = {
    21: "ftp", 22: "ssh", 23: "telnet", 25: "smtp", 53: "domain", 80: "http", 81: "http-alt",
    88: "kerberos", 110: "pop3", 111: "rpcbind", 113: "ident", 119: "nntp", 135: "msrpc", 139: "netbios-ssn",
    143: "imap", 179: "bgp", 389: "ldap", 443: "https", 444: "snpp", 445: "microsoft-ds", 465: "smtps",
    513: "rlogin", 514: "rsh", 515: "printer", 548: "afp", 554: "rtsp", 587: "submission", 631: "ipp",
    636: "ldaps", 873: "rsync", 902: "vmware-auth", 990: "ftps", 993: "imaps", 995: "pop3s", 1080: "socks",
    1025: "msrpc-dynamic", 1433: "ms-sql", 1521: "oracle", 1723: "pptp", 1883: "mqtt", 2049: "nfs", 2082: "cpanel",
    2083: "cpanel-ssl", 2086: "whm", 2087: "whm-ssl", 2181: "zookeeper", 2222: "ssh-alt", 2375: "docker",
    2376: "docker-tls", 3000: "http-dev", 3128: "squid-proxy", 3268: "ldap-gc", 3306: "mysql",
    3389: "ms-wbt-server", 3690: "svn", 4443: "https-alt", 5000: "http-dev", 5060: "sip", 5061: "sips",
    5222: "xmpp", 5432: "postgresql", 5601: "kibana", 5672: "amqp", 5800: "vnc-http", 5900: "vnc",
    5901: "vnc-1", 5984: "couchdb", 6000: "x11", 6379: "redis", 6443: "kubernetes-api", 6667: "irc",
    7001: "weblogic", 7443: "https-alt", 8000: "http-alt", 8008: "http-alt", 8009: "ajp13",
    8080: "http-proxy", 8081: "http-alt", 8086: "influxdb", 8088: "http-alt", 8181: "http-alt",
    8443: "https-alt", 8444: "https-alt", 8880: "http-alt", 8888: "http-alt", 9000: "http-admin",
    9001: "http-alt", 9042: "cassandra", 9090: "http-admin", 9092: "kafka", 9100: "jetdirect",
    9200: "elasticsearch", 9300: "elasticsearch-transport", 9418: "git", 9443: "https-alt",
    10000: "webmin", 11211: "memcached", 15672: "rabbitmq-mgmt", 27017: "mongodb", 27018: "mongodb",
}


def port_name(port: int) -> str:
    """The conventional name of `port`, or "unknown"."""
    return SERVICES.get(port, "unknown")
