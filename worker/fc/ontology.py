"""The oxmeta ontology: its namespace, the implicit ``state_variable`` term and category terms.

This is the one place the engine names the oxmeta namespace; the rest of the
package (and, outside it, the ontology and SPARQL code) takes it from here.

Category terms such as ``oxmeta:ExtracellularConcentration`` are resolved
through the ``rdf:type`` links of the ontology (the original engine's
"transitive variables"); ``oxmeta:state_variable`` needs no ontology: it means
every state of the model.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # rdflib is imported when first needed: reading a protocol needs only the constants
    import rdflib

OXMETA = "https://chaste.comlab.ox.ac.uk/cellml/ns/oxford-metadata#"
STATE_VARIABLE = OXMETA + "state_variable"


@lru_cache(maxsize=1)
def ontology() -> rdflib.Graph:
    """The oxmeta ontology, used to expand category terms such as ``oxmeta:IonicCurrent``.

    Shipped inside this package (``worker/fc/oxmeta.ttl``, a copy of ``ontology/oxmeta.ttl`` that a test
    keeps identical), so that an installed worker on any host has it; it used to be looked for in the
    source tree and the shared data, and a worker without them silently expanded no category term.
    """
    import rdflib

    text = resources.files(__package__).joinpath("oxmeta.ttl").read_text(encoding="utf-8")
    return rdflib.Graph().parse(data=text, format="turtle")


@lru_cache(maxsize=512)
def category_members(term: str) -> tuple[str, ...]:
    """Terms connected to ``term`` by a chain of ``rdf:type`` links (the term itself excluded)."""
    import rdflib

    graph = ontology()
    node = rdflib.URIRef(term)
    members = [str(s) for s in graph.transitive_subjects(rdflib.RDF.type, node) if s != node]
    return tuple(members)
