"""Structured PII and secrets in text: candidate patterns, then validation (check digits, registries,
context words), then one span per stretch of text.

Each detector yields `Span`s with a score in [0, 1]: about 0.9+ when a checksum or an unambiguous shape
confirms the type, lower when only the shape does; context words near the match ("phone", "SSN", "IBAN",
"password") raise it. Types whose shape alone is too common (9-digit national numbers, bare digit runs)
need a context word to pass the default threshold of 0.5.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import phonenumbers

from pointsman.signals.base import Span
from pointsman.signals.pii import checksums as ck
from pointsman.signals.pii.names import find_addresses, find_persons

# Types in the order that wins when two detectors claim overlapping text with equal scores.
PII_TYPES: tuple[str, ...] = (
    "PRIVATE_KEY",
    "JWT",
    "API_KEY",
    "EMAIL",
    "IBAN",
    "CREDIT_CARD",
    "IP_ADDRESS",
    "US_SSN",
    "UK_NINO",
    "BR_CPF",
    "ES_NIF",
    "IN_AADHAAR",
    "CA_SIN",
    "NL_BSN",
    "PHONE",
    "SECRET",
)
SECRET_TYPES = frozenset({"PRIVATE_KEY", "JWT", "API_KEY", "SECRET"})
# Found from the text's structure, not a pattern of digits (pii/names.py): opt-in, as they are less precise.
ENTITY_TYPES: tuple[str, ...] = ("STREET_ADDRESS", "PERSON")
KNOWN_TYPES: tuple[str, ...] = (*PII_TYPES, *ENTITY_TYPES)
_PRIORITY = {t: i for i, t in enumerate(KNOWN_TYPES)}

_CONTEXT_BEFORE = 48
_CONTEXT_AFTER = 40


def _words(*words: str) -> re.Pattern[str]:
    return re.compile(r"(?<![a-z])(?:" + "|".join(words) + r")(?![a-z])", re.IGNORECASE)


_CONTEXT = {
    "PHONE": _words(
        "phone",
        "telephone",
        "tel",
        "mobile",
        "cell",
        "cellphone",
        "fax",
        "call",
        "called",
        "calling",
        "text me",
        "sms",
        "whatsapp",
        "dial",
        "reach me",
        "ring",
        "landline",
        "hotline",
        "answering",
        "voicemail",
        "ph",
        "mob",
        "phone number",
        "contact number",
    ),
    "US_SSN": _words("ssn", "ssns", "social security", "social sec", "ss#", "ss #", "taxpayer"),
    "UK_NINO": _words("nino", "national insurance", "ni number", "ni no"),
    "CA_SIN": _words("sin", "social insurance"),
    "NL_BSN": _words("bsn", "burgerservicenummer", "sofinummer", "sofi"),
    "IN_AADHAAR": _words("aadhaar", "aadhar", "uidai", "uid"),
    "BR_CPF": _words("cpf"),
    "ES_NIF": _words("dni", "nie", "nif", "documento"),
    "CREDIT_CARD": _words(
        "card", "cards", "visa", "mastercard", "amex", "credit", "debit", "cc", "payment", "pay", "cvv"
    ),
    "IP_VERSION": _words("version", "ver", "v", "release", "build", "python", "node", "release"),
}


def _near(kind: str, text: str, start: int, end: int) -> bool:
    window = text[max(0, start - _CONTEXT_BEFORE) : start] + " " + text[end : end + _CONTEXT_AFTER]
    return _CONTEXT[kind].search(window) is not None


# -- e-mail --------------------------------------------------------------------------------------------
# Unicode letters allowed (internationalised addresses, RFC 6531).
_EMAIL = re.compile(
    r"(?<![\w.%+-])[^\W_][\w.%+-]{0,63}@"
    r"(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+[^\W\d_]{2,24}(?![\w-])"
)


def find_emails(text: str) -> Iterator[Span]:
    for m in _EMAIL.finditer(text):
        yield Span("EMAIL", m.start(), m.end(), 0.95)


# -- payment cards -------------------------------------------------------------------------------------
_CARD = re.compile(r"(?<![\w.,-])\d(?:[ -]?\d){11,18}(?![\w-]|[.,]\d)")


def card_brand_ok(d: str) -> bool:
    """Issuer ranges and lengths of the major card networks (Visa, Mastercard, Amex, Discover, Diners,
    JCB, UnionPay, Maestro)."""
    n, p2, p3, p4 = len(d), int(d[:2]), int(d[:3]), int(d[:4])
    if d[0] == "4":
        return n in (13, 16, 19)
    if 51 <= p2 <= 55 or 2221 <= p4 <= 2720:
        return n == 16
    if p2 in (34, 37):
        return n == 15
    if p4 == 6011 or p2 == 65 or 644 <= p3 <= 649:
        return 16 <= n <= 19
    if 300 <= p3 <= 305 or p2 in (36, 38, 39):
        return 14 <= n <= 19
    if p2 == 35:  # JCB (3528-3589; generators and test data use all of 35xx)
        return 16 <= n <= 19
    if p4 in (1800, 2131):
        return n == 15
    if p2 == 62 or p2 == 50 or 56 <= p2 <= 69:
        return 12 <= n <= 19
    return False


def _card_grouping_ok(raw: str) -> bool:
    groups = re.split(r"[ -]", raw)
    if len(groups) == 1:
        return True
    if len({ch for ch in raw if not ch.isdigit()}) > 1:
        return False  # mixed separators: a list of numbers, not one card
    sizes = [len(g) for g in groups]
    return sizes[:-1] == [4] * (len(sizes) - 1) or sizes in ([4, 6, 5], [4, 6, 4])


def find_cards(text: str) -> Iterator[Span]:
    for m in _CARD.finditer(text):
        raw = m.group()
        digits = raw.replace(" ", "").replace("-", "")
        if (
            12 <= len(digits) <= 19
            and _card_grouping_ok(raw)
            and card_brand_ok(digits)
            and ck.luhn_ok(digits)
        ):
            # A 12/13-digit number whose last digit is also a valid UPC/EAN check digit is likely a barcode.
            rare = len(digits) in (12, 13) and ck.ean_ok(digits)
            context = _near("CREDIT_CARD", text, m.start(), m.end())
            yield Span("CREDIT_CARD", m.start(), m.end(), 0.95 if context else 0.4 if rare else 0.9)


# -- IBAN ----------------------------------------------------------------------------------------------
_IBAN_START = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{2}\d{2}(?=[ -]?[A-Za-z0-9])")


def find_ibans(text: str) -> Iterator[Span]:
    for m in _IBAN_START.finditer(text):
        want = ck.IBAN_LENGTHS.get(m.group()[:2].upper())
        if want is None:
            continue
        chars, i, n = [], m.start(), len(text)
        while i < n and len(chars) < want:
            ch = text[i]
            if ch.isascii() and ch.isalnum():
                chars.append(ch)
            elif not (ch in " -" and i + 1 < n and text[i + 1].isalnum() and chars):
                break
            i += 1
        if len(chars) == want and not (i < n and text[i].isalnum()) and ck.iban_ok("".join(chars)):
            yield Span("IBAN", m.start(), i, 0.95)


# -- IP addresses --------------------------------------------------------------------------------------
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4 = re.compile(rf"(?<![\w.]){_OCTET}(?:\.{_OCTET}){{3}}(?:/(?:3[0-2]|[12]?\d))?(?![\w]|\.\d)")
_IPV6 = re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{1,4}|:)?(?::[0-9A-Fa-f]{0,4}){2,7}(?:/\d{1,3})?(?![\w:])")


def find_ips(text: str) -> Iterator[Span]:
    for m in _IPV4.finditer(text):
        version_like = _near("IP_VERSION", text, m.start(), m.start())
        yield Span("IP_ADDRESS", m.start(), m.end(), 0.3 if version_like else 0.9)
    if ":" not in text:
        return
    for m in _IPV6.finditer(text):
        raw = m.group().split("/")[0]
        if sum(ch.isalnum() for ch in raw) < 3 or raw.count(":") < 2:
            continue
        try:
            ipaddress.IPv6Address(raw)
        except ValueError:
            continue
        yield Span("IP_ADDRESS", m.start(), m.end(), 0.9 if raw.count(":") >= 4 else 0.6)


# -- national ids --------------------------------------------------------------------------------------
_SSN = re.compile(r"(?<![\d-])(\d{3})([- ]?)(\d{2})\2(\d{4})(?![\d-])")
_NINO = re.compile(r"(?<![A-Za-z0-9])([A-Za-z]{2}) ?(\d{2}) ?(\d{2}) ?(\d{2}) ?([A-Da-d])(?![A-Za-z0-9])")
_SIN = re.compile(r"(?<![\d-])(\d{3})([- ]?)(\d{3})\2(\d{3})(?![\d-])")
_BSN = re.compile(r"(?<![\d.-])(\d{4})\.?(\d{2})\.?(\d{3})(?![\d-]|[.,]\d)")
_AADHAAR = re.compile(r"(?<![\d-])([2-9]\d{3})([ -]?)(\d{4})\2(\d{4})(?![\d-])")
_CPF = re.compile(r"(?<![\d.-])(\d{3})(\.?)(\d{3})\2(\d{3})-?(\d{2})(?![\d-])")
_NIF = re.compile(r"(?<![A-Za-z0-9])([XYZxyz]?\d{7,8})-?([A-Za-z])(?![A-Za-z0-9])")


def _digits(m: re.Match[str]) -> str:
    return "".join(ch for ch in m.group() if ch.isdigit())


def find_national_ids(text: str) -> Iterator[Span]:
    for m in _SSN.finditer(text):
        if ck.us_ssn_ok(_digits(m)):
            shaped = m.group(2) == "-"
            context = _near("US_SSN", text, m.start(), m.end())
            yield Span("US_SSN", m.start(), m.end(), 0.95 if context else 0.85 if shaped else 0.3)
    for m in _NINO.finditer(text):
        nino = "".join(m.groups())
        if ck.uk_nino_ok(nino):
            context = _near("UK_NINO", text, m.start(), m.end())
            yield Span("UK_NINO", m.start(), m.end(), 0.95 if context else 0.85 if nino.isupper() else 0.4)
    for m in _SIN.finditer(text):
        digits = _digits(m)
        if digits[0] not in "08" and ck.luhn_ok(digits):
            yield Span(
                "CA_SIN", m.start(), m.end(), 0.9 if _near("CA_SIN", text, m.start(), m.end()) else 0.3
            )
    for m in _BSN.finditer(text):
        if ck.nl_bsn_ok(_digits(m)):
            yield Span(
                "NL_BSN", m.start(), m.end(), 0.9 if _near("NL_BSN", text, m.start(), m.end()) else 0.2
            )
    for m in _AADHAAR.finditer(text):
        if ck.verhoeff_ok(_digits(m)):
            context = _near("IN_AADHAAR", text, m.start(), m.end())
            yield Span("IN_AADHAAR", m.start(), m.end(), 0.9 if context else 0.3)
    for m in _CPF.finditer(text):
        if ck.br_cpf_ok(_digits(m)):
            shaped = m.group(2) == "." and "-" in m.group()
            context = _near("BR_CPF", text, m.start(), m.end())
            yield Span("BR_CPF", m.start(), m.end(), 0.95 if context else 0.85 if shaped else 0.3)
    for m in _NIF.finditer(text):
        if ck.es_nif_ok(m.group(1) + m.group(2)):
            context = _near("ES_NIF", text, m.start(), m.end())
            yield Span(
                "ES_NIF", m.start(), m.end(), 0.95 if context else 0.8 if m.group(2).isupper() else 0.4
            )


# -- phone numbers -------------------------------------------------------------------------------------
_PHONE = re.compile(
    r"(?<![\w+.\-/])(?<!\d:)"
    r"(?:(?:\+|00)\d{1,3}[ .\-]?)?"  # country code
    r"(?:\(0\)[ .\-]?)?"  # the (0) of +41 (0)96 ...
    r"(?:\(\d{1,5}\)[ .\-]?)?"  # area code in parentheses
    r"\d{1,15}(?:[ .\-]\d{1,11}){0,5}"
    r"(?:[ ]?(?:x|ext\.?|extension)[ ]?\d{1,5})?"
    r"(?!\w|[-:]\d|[.,/]\d)"
)
# A national number with a trunk prefix (0...) or a North American shape: a phone even with no context.
_PHONE_SHAPED = re.compile(
    r"0\d{1,4}(?:[ .\-]\d{2,8}){1,4}|\(\d{1,5}\)[ .\-]?(?:\d{2,4}(?:[ .\-]\d{2,4}){1,3}|\d{6,10})|"
    r"\(\d{3}\) ?\d{3}[ .\-]\d{4}|\d{3}([ .\-])\d{3}\1\d{4}|1[ .\-]\d{3}[ .\-]\d{3}[ .\-]\d{4}"
)
_DATE_LIKE = re.compile(r"\d{4}[.\-]\d{1,2}[.\-]\d{1,2}|\d{1,2}[.\-]\d{1,2}[.\-](?:19|20)\d{2}")


def _phone_score(text: str, m: re.Match[str]) -> float:
    raw = m.group()
    main = re.split(r"[ ]?(?:x|ext\.?|extension)[ ]?\d", raw)[0]
    digits = "".join(ch for ch in main if ch.isdigit())
    if not 7 <= len(digits) <= 15 or _DATE_LIKE.match(main):
        return 0.0
    context = _near("PHONE", text, m.start(), m.end())
    if main[0] == "+" or main.startswith("00"):
        try:
            number = phonenumbers.parse("+" + digits[2:] if main.startswith("00") else main, None)
        except phonenumbers.NumberParseException:
            return 0.0
        if phonenumbers.is_valid_number(number):
            return 0.95
        return 0.8 if phonenumbers.is_possible_number(number) else 0.4 if context else 0.0
    separated = main != digits
    if "." in main and not re.fullmatch(r"\d+(?:\.\d+){2,}", main):
        separated = False  # 3.14159 or 12.5: a decimal, not a dotted phone number
    if separated and _PHONE_SHAPED.fullmatch(main):
        return 0.9 if context else 0.75
    if separated or main.startswith("("):
        return 0.85 if context else 0.35
    if context and len(digits) >= 8:
        return 0.8
    # A national number with its trunk prefix (0 + 9-10 digits, as in most of Europe) is phone-shaped too.
    return 0.6 if re.fullmatch(r"0[1-9]\d{8,9}", main) else 0.2


def find_phones(text: str) -> Iterator[Span]:
    for m in _PHONE.finditer(text):
        score = _phone_score(text, m)
        if score > 0:
            yield Span("PHONE", m.start(), m.end(), score)


# -- secrets -------------------------------------------------------------------------------------------
_PRIVATE_KEY = re.compile(
    r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|\Z)"
)
_JWT = re.compile(r"(?<![\w-])eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}(?![\w-])")
# Published token formats of common providers (each has a fixed prefix, so false positives are rare).
_API_KEY = re.compile(
    r"(?<![\w-])(?:"
    r"(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}"  # AWS access key id
    r"|gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{60,255}"  # GitHub
    r"|glpat-[A-Za-z0-9_-]{20,}"  # GitLab
    r"|sk-ant-[a-z]{3,6}\d{2}-[A-Za-z0-9_-]{32,}"  # Anthropic
    r"|sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}"  # OpenAI and OpenAI-style
    r"|xox[abposre]-[A-Za-z0-9-]{10,}"  # Slack
    r"|(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}"  # Stripe
    r"|AIza[0-9A-Za-z_-]{35}"  # Google API key
    r"|hf_[A-Za-z0-9]{30,}"  # Hugging Face
    r"|npm_[A-Za-z0-9]{36}"  # npm
    r"|SG\.[A-Za-z0-9_-]{20,24}\.[A-Za-z0-9_-]{40,50}"  # SendGrid
    r"|(?:AC|SK)[0-9a-f]{32}"  # Twilio
    r"|dop_v1_[a-f0-9]{64}"  # DigitalOcean
    r"|shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}"  # Shopify
    r")(?![\w-])"
)
_URL_PASSWORD = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]+:([^\s:/@]{3,})@")
_KEYWORD_SECRET = re.compile(
    r"(?i:api[_ -]?key|apikey|secret|token|passw(?:or)?d|passwd|pwd|access[_ -]?key|auth|credential|bearer)"
    r"[\w-]*[\"']?\s*(?:[:=]|=>|\bis\b|:\s*Bearer)?\s*[\"']?([^\s\"'`,;]{8,200})"
)


def _entropy(s: str) -> float:
    counts: dict[str, int] = {}
    for ch in s:
        counts[ch] = counts.get(ch, 0) + 1
    n = len(s)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def _secret_like(token: str) -> bool:
    classes = sum(
        (
            any(c.islower() for c in token),
            any(c.isupper() for c in token),
            any(c.isdigit() for c in token),
            any(not c.isalnum() for c in token),
        )
    )
    return classes >= 2 and any(c.isdigit() for c in token) and _entropy(token) >= 3.0


def find_secrets(text: str) -> Iterator[Span]:
    for m in _PRIVATE_KEY.finditer(text):
        yield Span("PRIVATE_KEY", m.start(), m.end(), 0.99)
    for m in _JWT.finditer(text):
        yield Span("JWT", m.start(), m.end(), 0.95)
    for m in _API_KEY.finditer(text):
        yield Span("API_KEY", m.start(), m.end(), 0.95)
    for m in _URL_PASSWORD.finditer(text):
        yield Span("SECRET", m.start(1), m.end(1), 0.97)  # wins over the e-mail shape "pass@host"
    for m in _KEYWORD_SECRET.finditer(text):
        token = m.group(1).rstrip(".")
        if _secret_like(token):
            yield Span("SECRET", m.start(1), m.start(1) + len(token), 0.8)


# -- all together --------------------------------------------------------------------------------------
Finder = Callable[[str], Iterator[Span]]
FINDERS: dict[str, tuple[Finder, frozenset[str]]] = {
    "email": (find_emails, frozenset({"EMAIL"})),
    "card": (find_cards, frozenset({"CREDIT_CARD"})),
    "iban": (find_ibans, frozenset({"IBAN"})),
    "ip": (find_ips, frozenset({"IP_ADDRESS"})),
    "national": (
        find_national_ids,
        frozenset({"US_SSN", "UK_NINO", "CA_SIN", "NL_BSN", "IN_AADHAAR", "BR_CPF", "ES_NIF"}),
    ),
    "phone": (find_phones, frozenset({"PHONE"})),
    "secret": (find_secrets, SECRET_TYPES),
    "address": (find_addresses, frozenset({"STREET_ADDRESS"})),
    "person": (find_persons, frozenset({"PERSON"})),
}
_HAS_DIGIT = re.compile(r"\d")


@dataclass(frozen=True)
class PiiDetector:
    """Finds PII spans of the enabled `types` scoring at least `min_score`; overlaps resolved by score,
    then type priority (`PII_TYPES` order), then length."""

    types: frozenset[str] = frozenset(PII_TYPES)
    min_score: float = 0.5

    def __post_init__(self) -> None:
        unknown = set(self.types) - set(KNOWN_TYPES)
        if unknown:
            raise ValueError(f"unknown PII types {sorted(unknown)}; known: {', '.join(KNOWN_TYPES)}")

    def detect(self, text: str) -> list[Span]:
        if not text:
            return []
        has_digit = _HAS_DIGIT.search(text) is not None
        found: list[Span] = []
        for name, (finder, types) in FINDERS.items():
            if not (types & self.types) or (not has_digit and name not in ("email", "secret", "person")):
                continue
            found.extend(s for s in finder(text) if s.type in self.types and s.score >= self.min_score)
        return resolve_overlaps(found)


def resolve_overlaps(spans: list[Span]) -> list[Span]:
    """Keep the best span of each overlapping group; result sorted by start."""
    if len(spans) <= 1:
        return spans
    ranked = sorted(spans, key=lambda s: (-s.score, _PRIORITY[s.type], s.start - s.end))
    kept: list[Span] = []
    for span in ranked:
        if all(span.end <= k.start or span.start >= k.end for k in kept):
            kept.append(span)
    return sorted(kept, key=lambda s: s.start)
