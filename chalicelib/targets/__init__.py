"""Proof of control for active scans (DESIGN.md section 10): targets, their challenges and the gate."""
