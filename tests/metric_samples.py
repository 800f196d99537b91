"""Reading a service's metrics in tests by the labels that matter to the test."""

from __future__ import annotations

from prometheus_client import CollectorRegistry


def sample_sum(registry: CollectorRegistry, name: str, **labels: str) -> float:
    """The sum of the samples `name` whose labels include `labels` (0 when none): a test
    about one symbol reads it whatever the other labels (the account) are."""
    return sum(
        s.value
        for family in registry.collect()
        for s in family.samples
        if s.name == name and labels.items() <= s.labels.items()
    )
