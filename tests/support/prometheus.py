"""Reading /metrics' text in tests."""

from prometheus_client.parser import text_string_to_metric_families


def sample(metrics_text: str, name: str, **labels: str) -> float:
    """The value of the sample `name` with exactly `labels` in /metrics' text (0 if absent)."""
    for family in text_string_to_metric_families(metrics_text):
        for found in family.samples:
            if found.name == name and found.labels == labels:
                return float(found.value)
    return 0.0
