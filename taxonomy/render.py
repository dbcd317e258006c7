"""Human-readable view of a taxonomy: ``anicurate taxonomy show``."""

from __future__ import annotations

from rich.console import Console
from rich.text import Text
from rich.tree import Tree

from taxonomy.pks import Taxonomy


def summary_line(tax: Taxonomy) -> str:
    """``PKS pks-1.0: 4 axes, 14 fields, 129 values`` (deprecated values are counted, and said so)."""
    deprecated = sum(v.deprecated for v in tax.values)
    tail = f" ({deprecated} deprecated)" if deprecated else ""
    return (
        f"PKS {tax.version}: {len(tax.axes)} axes, {len(tax.fields)} fields, {len(tax.values)} values{tail}"
    )


def build_tree(tax: Taxonomy) -> Tree:
    """axis -> field [cardinality] -> value (tag_id) definition. Text objects, so no rich markup is parsed."""
    root = Tree(Text.assemble(("PKS ", "bold"), (tax.version, "bold cyan"), ("  ", ""), (tax.source, "dim")))
    for axis in tax.axes:
        axis_node = root.add(Text.assemble((axis.id, "bold magenta"), "  ", (axis.definition, "dim")))
        for fld in axis.fields:
            field_node = axis_node.add(
                Text.assemble((fld.id, "bold"), f" [{fld.cardinality}]", "  ", (fld.definition, "dim"))
            )
            for value in fld.values:
                parts: list[str | tuple[str, str]] = [
                    (value.id, "dim strike" if value.deprecated else "green"),
                    (f"  ({value.tag_id})  ", "cyan"),
                    value.definition,
                ]
                if value.deprecated:
                    replaced = f", use {value.replaced_by}" if value.replaced_by else ""
                    parts.append((f"  [deprecated{replaced}]", "yellow"))
                field_node.add(Text.assemble(*parts))
    return root


def print_tree(tax: Taxonomy, console: Console | None = None) -> None:
    """Print the taxonomy tree and the count line."""
    console = console if console is not None else Console()
    console.print(build_tree(tax))
    console.print(summary_line(tax))
