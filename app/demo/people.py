"""Who the demo customers are: names, companies, countries and the currency each one pays in."""

from __future__ import annotations

import random
from dataclasses import dataclass

FIRST_NAMES = (
    "Ada", "Adrian", "Aisha", "Alex", "Alice", "Amara", "Ana", "Andrea", "Arjun", "Ben", "Bianca", "Carlos",
    "Chen", "Chloe", "Clara", "Daniel", "David", "Diego", "Elena", "Elif", "Emma", "Ethan", "Fatima", "Felix",
    "Freya", "Gabriel", "Grace", "Hannah", "Hugo", "Ines", "Isaac", "Ivy", "Jack", "James", "Jana", "Jonas",
    "Julia", "Kai", "Kenji", "Laura", "Leo", "Lena", "Lucas", "Lucia", "Maya", "Mei", "Mia", "Marco", "Mateo",
    "Nadia", "Noah", "Nora", "Olivia", "Omar", "Oscar", "Paula", "Priya", "Rafael", "Rosa", "Ruth", "Sam",
    "Sara", "Sofia", "Tariq", "Theo", "Tom", "Valentina", "Wei", "Yara", "Yusuf", "Zoe",
)  # fmt: skip
LAST_NAMES = (
    "Adams", "Ahmed", "Alvarez", "Andersen", "Bauer", "Becker", "Bianchi", "Brown", "Campbell", "Chen", "Costa",
    "Dubois", "Evans", "Fischer", "Garcia", "Green", "Hall", "Hansen", "Hughes", "Ivanova", "Jansen", "Johnson",
    "Kaur", "Keller", "Kim", "Kowalski", "Lambert", "Lee", "Lopez", "Martin", "Meyer", "Moreau", "Murphy",
    "Nakamura", "Nguyen", "Novak", "Okafor", "Olsen", "Patel", "Perez", "Rossi", "Schmidt", "Silva", "Singh",
    "Smith", "Tanaka", "Taylor", "Thompson", "Van Dijk", "Wagner", "Walker", "Weber", "Williams", "Wilson",
    "Wright", "Yilmaz", "Young", "Zhang",
)  # fmt: skip
COMPANY_WORDS = (
    "acorn", "alpine", "amber", "anchor", "apex", "arbor", "atlas", "beacon", "birch", "bluebird", "bright",
    "cedar", "cobalt", "comet", "copper", "coral", "crest", "delta", "ember", "evergreen", "falcon", "fern",
    "granite", "harbor", "helix", "horizon", "indigo", "juniper", "kestrel", "lumen", "maple", "meadow",
    "meridian", "nimbus", "north", "oak", "orbit", "pine", "pixel", "prism", "quartz", "river", "sable",
    "sage", "signal", "spruce", "summit", "tidal", "true", "vertex", "willow", "zenith",
)  # fmt: skip
COMPANY_SUFFIXES = ("labs", "studio", "works", "digital", "analytics", "software", "media", "systems", "co", "hq")
#: personal addresses some customers sign up with; `.example` (RFC 2606) never delivers to a real mailbox
PERSONAL_DOMAINS = ("mail.example", "inbox.example", "post.example")

#: (country, currency, weight): mostly US customers paying in dollars, Europe in euros, the UK in pounds
COUNTRIES = (
    ("US", "USD", 52), ("CA", "USD", 5), ("AU", "USD", 3), ("IN", "USD", 3), ("BR", "USD", 2), ("SG", "USD", 2),
    ("DE", "EUR", 8), ("FR", "EUR", 6), ("NL", "EUR", 3), ("ES", "EUR", 2), ("IT", "EUR", 2), ("IE", "EUR", 1),
    ("GB", "GBP", 11),
)  # fmt: skip


@dataclass(frozen=True)
class Person:
    external_id: str
    name: str
    email: str
    country: str
    currency: str


def make_person(rng: random.Random, index: int) -> Person:
    """The index keeps external ids unique whatever the random draws."""
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    country, currency, _ = rng.choices(COUNTRIES, weights=[w for *_, w in COUNTRIES])[0]
    local = rng.choice((f"{first}", f"{first}.{last}", f"{first[0]}{last}", f"{first}{index}")).lower()
    local = local.replace(" ", "")
    if rng.random() < 0.2:
        domain = rng.choice(PERSONAL_DOMAINS)
        local = f"{local}.{index}"
    else:
        domain = f"{rng.choice(COMPANY_WORDS)}{rng.choice(COMPANY_SUFFIXES)}.example"
    return Person(
        external_id=f"usr_{index:06d}",
        name=f"{first} {last}",
        email=f"{local}@{domain}",
        country=country,
        currency=currency,
    )
