"""The positions service: fills folded into positions, marks, reconciliation with the venue.

`python -m services.positions` or `mmx service positions`; settings from `MMX_POSITIONS_*`.
"""
