"""The archive service: the audit trail written off the box, to S3 (and CloudWatch Logs).

`python -m services.archive` or `mmx service archive`; settings from `MMX_ARCHIVE_*`.
Read back with `mmx audit query` and `mmx audit replay`; docs/audit.md says what goes out.
"""
