"""Names of people and postal addresses, found from the structure of the text (no model weights).

No PyPI package ships English NER weights under a licence and provenance the project can rely on offline
(spaCy's own models are not on PyPI; re-uploads by third parties are), so these finders read structure:

- PERSON: a title ("Dr.", "Mrs") or a cue ("my name is", "Dear", "signed", "patient") before capitalised
  words; a known first name (faker's first-name lists, MIT, in data/first_names.txt) before a capitalised
  surname; a known first name alone (lower score), unless it is also a common word ("Will", "May", "Rose").
- STREET_ADDRESS: a house number, capitalised street words and a street suffix ("12 Crown St", "24 Clarke
  Avenue"), or a street word first/last in the continental way ("Via Roma 131", "Friedhofstrasse 33",
  "Puruntie 82"), a unit ("Apt. 117", "Suite 464") and PO boxes; each component its own span.

Precision and recall are measured on presidio-research's synthetic sentences and on faker sentences with
names of locales the first-name list does not hold (benchmarks/signals.py, docs/classifiers.md).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

from pointsman.signals.base import Span

_DATA = Path(__file__).parent / "data" / "first_names.txt"
_CAP = r"[A-ZÀ-ÖØ-ÞĀ-Ž][a-zß-öø-ÿā-žA-ZÀ-ÖØ-ÞĀ-Ž'’\-]*[a-zß-öø-ÿā-ž]"
_INITIAL = r"[A-Z]\."
_NAME_RUN = rf"{_CAP}(?:\s+(?:{_INITIAL}\s+)?{_CAP}){{0,2}}"
_TITLE = re.compile(
    rf"\b(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Sir|Dame|Madam|Mme|Herr|Frau|Sr|Sra)\.?\s+(?P<n>{_NAME_RUN})"
)
# A cue right before a capitalised run (matched backwards from each capitalised word: cheap).
_CUE_BEFORE = re.compile(
    r"(?i:\b(?:my name is|name is|name:|named|called|i am|i'm|this is|dear|hi|hello|regards,?|sincerely,?"
    r"|thanks,?|signed,?|from:|to:|attn:?|cc:?|contact|ask for|patient|customer|client|employee|tenant"
    r"|applicant|candidate|account holder|spoke (?:to|with)|met with|met|said|told|tell|wrote|says|attention"
    r"|tenant,|neighbour|neighbor|colleague|manager|boss|wife|husband|son|daughter|friend))\s+$"
)
_RUN = re.compile(_NAME_RUN)
_CAP_TOKEN = re.compile(rf"\b{_CAP}")
_SURNAME = re.compile(rf"\s+(?:{_INITIAL}\s+)?(?P<s>{_CAP})")


# First names that are also ordinary capitalised words (sentence starts, months, places, virtues).
def _wordset(text: str) -> frozenset[str]:
    return frozenset(text.split())


_COMMON = _wordset(
    "Will May Mark Bill Grace Hope June April August Art Rose Lily Joy Faith Summer Autumn Dawn Sky Ray Rich "
    "Guy Jack Frank Sunny Rocky Chance Chase Miles Hunter Page Paris Georgia Virginia Carolina Jordan China "
    "India Holly Ivy Iris Amber Ruby Pearl Crystal Angel Heather Robin Jay Drew Lane Dale Glen Wade Royal "
    "King Prince Major Baker Don Sue Pat Gene Roman German Norman Christian Else Per Bo Jan Dan Mai Ole Tor "
    "Ben Max Son Kim Lee Long Young Summer Star Early Price Case Forest Golden Justice Sage Storm Brook "
    "Kai Van Eve Sol Ada Asia Africa America Florida Austin Dallas Houston Sydney Victoria Lincoln "
    "Washington Milan Florence Chelsea Adelaide Regina Elba Nice Marine Precious Harmony Destiny Trinity "
    "My Hey Dear Can Sun Moon Bay Gay Fine Dick Rich Honey Candy Cash Carter Cole Gray Grey Hall"
)
_NOT_AFTER = re.compile(
    r"\s+(?:Street|St|Avenue|Ave|Road|Rd|Lane|University|College|Hospital|Inc|Ltd|LLC|GmbH|Corp|Company"
    r"|Bank|Airport|River|Lake|Park|County|City|Island|Mountains?|Hotel|Foundation|Institute|School)\b"
)


@lru_cache(maxsize=1)
def first_names() -> frozenset[str]:
    lines = _DATA.read_text(encoding="utf-8").splitlines()
    return frozenset(n for n in lines if n and not n.startswith("#")) - _COMMON


def find_persons(text: str) -> Iterator[Span]:
    names = first_names()
    for m in _TITLE.finditer(text):
        yield Span("PERSON", m.start("n"), m.end("n"), 0.9)
    taken = 0
    for m in _CAP_TOKEN.finditer(text):
        if m.start() < taken or not _CUE_BEFORE.search(text, max(0, m.start() - 24), m.start()):
            continue
        run = _RUN.match(text, m.start())
        if run is None:
            continue
        tokens = run.group(0).split()
        if len(tokens) == 1 and tokens[0] not in names:
            continue  # "said Anna" yes, "said Yesterday" no
        taken = run.end()
        yield Span("PERSON", run.start(), run.end(), 0.8)
    for m in _CAP_TOKEN.finditer(text):
        word = m.group(0)
        if word not in names or _NOT_AFTER.match(text, m.end()):
            continue
        nxt = _SURNAME.match(text, m.end())
        if nxt and nxt.group("s") not in _COMMON and not _NOT_AFTER.match(text, nxt.end()):
            yield Span("PERSON", m.start(), nxt.end("s"), 0.85)
        else:
            yield Span("PERSON", m.start(), m.end(), 0.6)


# Street suffixes: the common USPS ones (Publication 28) and British ones.
_SUFFIXES = (
    "Street St Avenue Ave Road Rd Boulevard Blvd Lane Ln Drive Dr Court Ct Place Pl Square Sq Terrace Way "
    "Parkway Pkwy Highway Hwy Circle Cir Trail Trl Crescent Close Row Alley Plaza Ridge Heights Loop Path Pike "
    "Run View Walk Mews Gardens Grove Hill Hills Park Green Point Rise Vale Expressway Freeway Bridge Brook "
    "Brooks Burg Bypass Camp Canyon Cape Causeway Center Centre Cliff Club Common Corner Course Courts Cove "
    "Creek Crossing Crest Curve Dale Dam Divide Estate Estates Extension Falls Ferry Field Fields Flat Flats "
    "Ford Fords Forest Forge Forks Fort Freeway Gateway Glen Glens Harbor Haven Hollow Inlet Island Islands "
    "Junction Key Knoll Knolls Lake Lakes Landing Light Lights Lock Locks Lodge Manor Meadow Meadows Mill Mills "
    "Mission Motorway Mount Mountain Neck Orchard Oval Overpass Pass Passage Pine Pines Plain Plains Port "
    "Prairie Radial Ranch Rapid Rapids Rest Ridges River Roads Route Shoal Shoals Shore Shores Skyway Spring "
    "Springs Spur Station Stream Summit Throughway Trace Track Tunnel Turnpike Underpass Union Valley Valleys "
    "Via Viaduct Village Ville Vista Wall Well Wells Wharf Wood Woods Yard"
)
_SUFFIX = "(?:" + "|".join(sorted(set(_SUFFIXES.split()), key=len, reverse=True)) + ")"
_STREET_WORD = r"(?:[A-Z][\w'’\-]*|of|the|de|la|du|del|van|von)"
_US_STREET = re.compile(
    rf"\b\d{{1,6}}[A-Za-z]?(?:[-/]\d{{1,4}})?\s+(?:{_STREET_WORD}\s+){{0,4}}{_SUFFIX}\b\.?"
    rf"(?:\s+(?:N|S|E|W|NE|NW|SE|SW)\b\.?)?"
)
_PREFIX = (
    r"(?:Rue|Via|Viale|Vicolo|Stretto|Borgo|Contrada|Corso|Piazza|Largo|Rua|Calle|Carrer|Avenida|Av\.|Avenue"
    r"|Plac|Ulica|ul\.|Boulevard|Chemin|Allée|Impasse|Place|Quai|Route)"
)
_EU_PREFIXED = re.compile(
    rf"\b(?:\d{{1,5}},?\s+)?(?i:{_PREFIX})\s+(?:{_STREET_WORD}\s+){{0,4}}{_STREET_WORD}(?:,?\s+\d{{1,5}}[A-Za-z]?\b)?"
)
_EU_SUFFIXED = re.compile(
    r"\b[A-ZÀ-ÖØ-Þ][^\W\d_]{1,30}?(?:strasse|straße|str\.|weg|gasse|platz|allee|ring|damm|laan|straat|pad"
    r"|dreef|singel|kade|hof|steeg|gracht|plein|gatan|vägen|gata|vej|gade|veien|gate|tie|katu|polku|kuja|utca"
    r"|ulica|cesta)\s+\d{1,5}[A-Za-z]?\b"
)
_UNIT = re.compile(r"\b(?:Apt|Apartment|Suite|Ste|Unit|Flat|Floor|Fl|Room|Rm)\.?\s*#?\s*\d{1,5}[A-Za-z]?\b")
_BOX = re.compile(r"\b(?:P\.?\s?O\.?\s?Box|PSC|Unit)\s+\d{1,6}(?:,\s*Box\s+\d{1,6})?\b", re.IGNORECASE)


_LEAD_NUMBER = re.compile(r"\b\d{1,6}\s+$")
# After a street: the rest of an address (unit, city, region, country, postcode), a few short pieces
# separated by commas or line breaks.
_TAIL_PIECE = re.compile(
    r"[ \t]*[,\n][ \t]*(?:[,\n][ \t]*)?(?P<p>(?:[A-Z][\w'’.\-]*|\d{3,6})(?:[ \t]+(?:[A-Z][\w'’.\-]*|\d{3,6})){0,3})"
)
_ZIP_AFTER = re.compile(r"[ \t]+(?:[A-Z]{2}[ \t]+)?\d{4,6}(?:-\d{4})?\b")


_PREFIX_WORDS = _wordset(
    "rue via viale vicolo stretto borgo contrada corso piazza largo rua calle carrer avenida av avenue plac "
    "ulica ul boulevard chemin allée impasse place quai route"
)
_LOWER_WORD = re.compile(r"[^\W\d_]+")


def find_addresses(text: str) -> Iterator[Span]:
    """Whole addresses: street components, then the unit, city, region and postcode that follow."""
    found: list[tuple[int, int, float]] = []
    prefixed = not _PREFIX_WORDS.isdisjoint(_LOWER_WORD.findall(text.lower()))
    patterns = [(_US_STREET, 0.85), (_EU_SUFFIXED, 0.8), (_BOX, 0.8)]
    if prefixed:  # the prefixed pattern is the costly one: only when one of its words occurs
        patterns.append((_EU_PREFIXED, 0.8))
    for pattern, score in patterns:
        found += [(m.start(), m.end(), score) for m in pattern.finditer(text)]
    streets = {(s, e) for s, e, _ in found}
    found += [
        (m.start(), m.end(), 0.7)
        for m in _UNIT.finditer(text)
        if not any(s <= m.start() < e for s, e in streets)
    ]
    for start, end, score in _merge(sorted(found), text):
        lead = _LEAD_NUMBER.search(text, max(0, start - 8), start)  # "6750 Koskikatu 25": a leading number
        if lead and lead.end() == start:
            start = lead.start()
        end = _extend(text, end) if score >= 0.8 else end
        yield Span("STREET_ADDRESS", start, end, score)


def _merge(found: list[tuple[int, int, float]], text: str) -> Iterator[tuple[int, int, float]]:
    current = None
    for start, end, score in found:
        if current and start <= current[1] + 3 and not text[current[1] : start].strip(" ,\n"):
            current = (current[0], max(current[1], end), max(current[2], score))
            continue
        if current:
            yield current
        current = (start, end, score)
    if current:
        yield current


def _extend(text: str, end: int, pieces: int = 4) -> int:
    base = end
    for _ in range(pieces):
        m = _UNIT.match(text, end) or _TAIL_PIECE.match(text, end)
        if m is None or len(m.group(0)) > 40:
            break
        end = m.end()
    zip_ = _ZIP_AFTER.match(text, end)
    end = zip_.end() if zip_ else end
    return end - 1 if end > base and text[end - 1] == "." else end  # the sentence's full stop
