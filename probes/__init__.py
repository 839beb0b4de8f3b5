"""Probes: read the host (Docker API, netlink, sysctls, firewall) into plain model records."""
