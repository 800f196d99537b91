"""The risk service: pre-trade checks, exposure reservations, edge and loss monitoring.

`python -m services.risk` or `mmx service risk`; settings from `MMX_RISK_*`.
"""
