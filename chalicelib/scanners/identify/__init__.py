"""Service identification: what product and version answers on each open port.

`identify_services` names every open port of an address; `fetch_http_facts` GETs one path of an
identified HTTP(S) service (the appliance rules use it for portal paths).
"""

from chalicelib.scanners.identify.http import fetch_http_facts
from chalicelib.scanners.identify.model import HttpFacts, Service, Software
from chalicelib.scanners.identify.services import identify_services

__all__ = ["HttpFacts", "Service", "Software", "fetch_http_facts", "identify_services"]
