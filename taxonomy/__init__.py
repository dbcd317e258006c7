"""The Production Knowledge System (PKS): anime as controllable production variables, Style x Motion x Camera x VFX.

``load_taxonomy()`` reads the bundled ``pks_v1.yaml``; tags are ``(field, value)`` pairs such as
``camera.movement=pan_left``; ``Taxonomy.vocab`` gives the stable ids the tag encoder embeds.
"""

from taxonomy.loader import BUNDLED_PATH, load_taxonomy, parse_taxonomy
from taxonomy.model import AXES, Axis, Field, Tag, TaxonomyError, TaxonomyLookupError, Value
from taxonomy.pks import Taxonomy
from taxonomy.render import build_tree, print_tree, summary_line
from taxonomy.vocab import TagVocab

__all__ = [
    "AXES",
    "BUNDLED_PATH",
    "Axis",
    "Field",
    "Tag",
    "TagVocab",
    "Taxonomy",
    "TaxonomyError",
    "TaxonomyLookupError",
    "Value",
    "build_tree",
    "load_taxonomy",
    "parse_taxonomy",
    "print_tree",
    "summary_line",
]
