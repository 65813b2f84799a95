from __future__ import annotations

import pytest

from pointsman.signals.base import RequestView
from pointsman.signals.pii import PII_TYPES, PiiDetector, PiiSignal
from pointsman.signals.pii import checksums as ck

DETECT = PiiDetector()


def found(text: str) -> list[tuple[str, str]]:
    return [(s.type, text[s.start : s.end]) for s in DETECT.detect(text)]


@pytest.mark.parametrize(
    ("text", "type_", "value"),
    [
        ("write to jane.doe+news@mail.example.co.uk today", "EMAIL", "jane.doe+news@mail.example.co.uk"),
        ("card 4111 1111 1111 1111 expires soon", "CREDIT_CARD", "4111 1111 1111 1111"),
        ("card 4111-1111-1111-1111", "CREDIT_CARD", "4111-1111-1111-1111"),
        ("my amex 3782 822463 10005", "CREDIT_CARD", "3782 822463 10005"),
        ("pay with 5555555555554444.", "CREDIT_CARD", "5555555555554444"),
        ("IBAN GB82 WEST 1234 5698 7654 32 please", "IBAN", "GB82 WEST 1234 5698 7654 32"),
        ("iban de89370400440532013000", "IBAN", "de89370400440532013000"),
        ("server at 192.168.10.254, port 22", "IP_ADDRESS", "192.168.10.254"),
        ("block 10.0.0.0/8 now", "IP_ADDRESS", "10.0.0.0/8"),
        ("v6 2001:db8:85a3::8a2e:370:7334 is up", "IP_ADDRESS", "2001:db8:85a3::8a2e:370:7334"),
        ("SSN 123-45-6788", "US_SSN", "123-45-6788"),
        ("my social security number is 123456788", "US_SSN", "123456788"),
        ("NI number AB 12 34 56 C", "UK_NINO", "AB 12 34 56 C"),
        ("CPF 529.982.247-25", "BR_CPF", "529.982.247-25"),
        ("DNI 12345678Z", "ES_NIF", "12345678Z"),
        ("NIE X1234567L", "ES_NIF", "X1234567L"),
        ("my SIN is 130 692 544", "CA_SIN", "130 692 544"),
        ("BSN: 111222333", "NL_BSN", "111222333"),
        ("Aadhaar 2341 2341 2346", "IN_AADHAAR", "2341 2341 2346"),
        ("call me on +44 20 7946 0958", "PHONE", "+44 20 7946 0958"),
        ("phone: (415) 555-2671", "PHONE", "(415) 555-2671"),
        ("reach me at 415.555.2671", "PHONE", "415.555.2671"),
        ("Tel 030 901820 or later", "PHONE", "030 901820"),
        ("+1-984-182-0190x123 mobile", "PHONE", "+1-984-182-0190x123"),
        ("export AWS_KEY=AKIAIOSFODNN7EXAMPLE", "API_KEY", "AKIAIOSFODNN7EXAMPLE"),
        (
            "token ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789",
            "API_KEY",
            "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789",
        ),
        ("OPENAI_API_KEY=sk-proj-Ab3dEf6hIj9kLmN0pQrS", "API_KEY", "sk-proj-Ab3dEf6hIj9kLmN0pQrS"),
        ("stripe sk_live_4eC39HqLyjWDarjtT1zdp7dc", "API_KEY", "sk_live_4eC39HqLyjWDarjtT1zdp7dc"),
        ("password: Tr0ub4dor&3x!", "SECRET", "Tr0ub4dor&3x!"),
        ("db postgres://admin:s3cretPass@db.internal:5432/app", "SECRET", "s3cretPass"),
    ],
)
def test_true_positives(text, type_, value):
    assert (type_, value) in found(text)


def test_jwt_and_private_key():
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
    assert found(f"Authorization: Bearer {jwt}") == [("JWT", jwt)]
    pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7\nabc==\n-----END RSA PRIVATE KEY-----"
    assert found(f"here is my key\n{pem}\nthanks") == [("PRIVATE_KEY", pem)]
    truncated = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA"
    assert found(truncated) == [("PRIVATE_KEY", truncated)]


@pytest.mark.parametrize(
    "text",
    [
        "card 4111 1111 1111 1112",  # fails Luhn
        "ISBN 978-3-16-148410-0 and ISBN 0-306-40615-2",
        "ISBN 9783161484100",
        "barcode 4006381333931",  # EAN-13 that also passes Luhn
        "request 550e8400-e29b-41d4-a716-446655440000 failed",
        "on 2024-01-15 at 13:45:10, or 15.01.2024",
        "timestamp 2021-11-01T21:43:00.985425",
        "upgrade numpy to version 1.26.4.1 and python 3.11.7",
        "pi = 3.14159265358979 and e = 2.718281828",
        "between 1990 and 2020 the population grew to 1,234,567",
        "commit 9fceb02d0ae598e95dc970b74764c8e1d3a4f1ab",
        "compute 1234 * 5678 + 91011",
        "the word secret is a token of trust",
        "GB82 WEST 1234 5698 7654 33",  # IBAN with a wrong checksum
        "SSN 000-12-3456 or 666-12-3456 or 912-12-3456",  # never-issued areas
        "user@localhost and @decorator",
        "std::vector<int> and a::b::c",
        "",
        "    ",
    ],
)
def test_hard_negatives(text):
    assert found(text) == []


def test_checksums():
    assert ck.luhn_ok("79927398713") and not ck.luhn_ok("79927398710")
    assert ck.iban_ok("GB82WEST12345698765432") and not ck.iban_ok("GB82WEST1234569876543")
    assert not ck.iban_ok("XX82WEST12345698765432")
    assert ck.verhoeff_ok("2363") and not ck.verhoeff_ok("2364")
    assert ck.nl_bsn_ok("111222333") and not ck.nl_bsn_ok("111222334")
    assert ck.br_cpf_ok("52998224725") and not ck.br_cpf_ok("11111111111")
    assert ck.es_nif_ok("12345678Z") and ck.es_nif_ok("X1234567L") and not ck.es_nif_ok("12345678A")
    assert ck.uk_nino_ok("AB123456C") and not ck.uk_nino_ok("GB123456C") and not ck.uk_nino_ok("AB123456E")
    assert ck.ean_ok("4006381333931") and not ck.ean_ok("4006381333932")


def test_overlaps_resolved_and_types_filtered():
    text = "card 4111111111111111 mail a@b.io"
    assert [t for t, _ in found(text)] == ["CREDIT_CARD", "EMAIL"]
    only_email = PiiDetector(frozenset({"EMAIL"}))
    assert [s.type for s in only_email.detect(text)] == ["EMAIL"]
    with pytest.raises(ValueError, match="unknown PII types \\['NAME'\\]"):
        PiiDetector(frozenset({"NAME"}))


def test_unicode_offsets_are_character_offsets():
    text = "Grüße aus Köln — schreib an jörg@example.de oder ruf +49 30 901820 an"
    assert found(text) == [("EMAIL", "jörg@example.de"), ("PHONE", "+49 30 901820")]


def test_signal_locates_spans_by_message_and_part():
    body = {
        "messages": [
            {"role": "system", "content": "Support agent. Escalations: ops@acme.com"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "hi"},
                    {"type": "text", "text": "my card 4111 1111 1111 1111"},
                ],
            },
        ]
    }
    result = PiiSignal().compute(RequestView(body))
    assert [(s.type, s.message, s.part) for s in result.value] == [("EMAIL", 0, None), ("CREDIT_CARD", 1, 1)]
    assert result.scores == {"EMAIL": 0.95, "CREDIT_CARD": 0.95} and result.confidence == 0.95
    user_only = PiiSignal(roles=["user"]).compute(RequestView(body))
    assert [s.type for s in user_only.value] == ["CREDIT_CARD"]
    assert PiiSignal().compute(RequestView.from_prompt("nothing here")).value == ()


def test_huge_prompt():
    text = ("nothing to see here 12 34 " * 20_000) + " mail x@y.org"
    assert found(text)[-1] == ("EMAIL", "x@y.org")


def test_type_list_is_complete():
    assert set(PII_TYPES) >= {
        "EMAIL",
        "PHONE",
        "CREDIT_CARD",
        "IBAN",
        "IP_ADDRESS",
        "US_SSN",
        "UK_NINO",
        "API_KEY",
    }
