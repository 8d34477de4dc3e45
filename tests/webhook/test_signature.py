import pytest

from webhook.signature import SignatureError, sign, verify

# GitHub's documented known-answer vector ("Validating webhook deliveries").
SECRET = b"It's a Secret to Everybody"
BODY = b"Hello, World!"
EXPECTED = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def test_known_answer_vector() -> None:
    assert sign(SECRET, BODY) == EXPECTED
    verify([SECRET], BODY, EXPECTED)


def test_any_of_several_secrets_is_accepted_for_rotation() -> None:
    verify([b"old secret", SECRET], BODY, EXPECTED)


@pytest.mark.parametrize(
    ("body", "header", "reason"),
    [
        (b"Hello, World?", EXPECTED, "does not match"),
        (BODY, None, "missing"),
        (BODY, "", "missing"),
        (BODY, EXPECTED.replace("sha256=", "sha1="), "does not start"),
        (BODY, "sha1=01dc10d0c83e72ed246219cdd91669667fe2ca59", "does not start"),
        (BODY, "sha256=" + "0" * 64, "does not match"),
        (BODY, EXPECTED.upper(), "does not start"),
        (BODY, "sha256=\xe9" + EXPECTED[8:], "does not match"),
    ],
)
def test_refused(body: bytes, header: str | None, reason: str) -> None:
    with pytest.raises(SignatureError, match=reason):
        verify([SECRET], body, header)


def test_no_secret_refuses_everything() -> None:
    with pytest.raises(SignatureError, match="no webhook secret"):
        verify([b""], BODY, sign(b"", BODY))
