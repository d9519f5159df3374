"""Service identification: what product and version answers on each open port."""
