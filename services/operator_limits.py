"""`mmx limits`: the risk limits as configured, the rule that scales them and what it scales
now; with `--file`, first set them from a YAML (or JSON) file, as `PUT /v1/risk/limits` takes
them (camelCase; fields left out keep their value; `scaling: null` removes the rule).

    mmx limits                          show
    mmx limits --file desk-limits.yaml  set, then show

A number in the file is sent as its exact text (`factor: 0.5` is "0.5"), never through a
binary float.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from services.operator import GatewayClient


def read_limits_file(path: str) -> dict[str, Any]:
    """The mapping in the YAML or JSON file at `path`; OperatorError (exit 2) when it cannot
    be read or is not a mapping."""
    import yaml

    from services.operator import OperatorError

    class ExactLoader(yaml.SafeLoader):
        """YAML whose floats stay their text: the gateway takes exact decimals only."""

    def as_text(loader: yaml.SafeLoader, node: yaml.Node) -> str:
        assert isinstance(node, yaml.ScalarNode)
        return str(loader.construct_scalar(node))

    ExactLoader.add_constructor("tag:yaml.org,2002:float", as_text)
    try:
        loaded = yaml.load(Path(path).read_text(), Loader=ExactLoader)
    except (OSError, yaml.YAMLError) as error:
        raise OperatorError(f"cannot read the limits file {path}: {error}") from None
    if not isinstance(loaded, dict):
        raise OperatorError(
            f"the limits file {path} holds {type(loaded).__name__}: expected a mapping of "
            "limits (maxInventoryUsd: 10000, ..., scaling: {...})"
        )
    return loaded


def limits_text(client: GatewayClient, path: str | None = None) -> str:
    """Set the limits from `path` when given; then the limits as configured, the scaling
    rule and what it scales now, as text."""
    import yaml

    from services.operator import table

    if path is not None:
        client.put("/v1/risk/limits", read_limits_file(path))
    risk = client.get("/v1/risk")
    configured = [(k, v) for k, v in risk["limits"].items() if k != "scaling"]
    rule = risk["limits"]["scaling"]
    lines = ["limits (as configured)", table(["LIMIT", "VALUE"], configured), ""]
    shown = "  none" if rule is None else yaml.safe_dump(rule, sort_keys=False).rstrip()
    lines += ["scaling rule", shown if rule is None else _indent(shown), ""]
    lines += ["scaled now", table(SCALED_HEADERS, scaled_rows(risk)) if rule else "  (none)"]
    return "\n".join(lines)


SCALED_HEADERS = ["SYMBOL", "LIMIT", "IN FORCE", "FACTOR", "WHY"]


def scaled_rows(risk: dict[str, Any]) -> list[list[Any]]:
    """The limits the scaling rule holds below their configured value now, from `/v1/risk`."""
    return [
        [e["symbol"], name, e["limits"][name], factor, "; ".join(e["reasons"])]
        for e in risk["effectiveLimits"]
        for name, factor in e["factors"].items()
        if name in e["limits"]
    ]


def _indent(text: str) -> str:
    return "\n".join(f"  {line}" for line in text.splitlines())
