"""Masking secrets in a streamed log."""

from tasks.worker.joblog import MASK, JobLog, Masker, secret_variants
from tests.worker.fakes import FakeStore

SECRET = b"hunter2-very-secret"


def stream(masker: Masker, pieces: list[bytes]) -> bytes:
    return b"".join(masker.feed(p) for p in pieces) + masker.finish()


def test_secret_in_one_write_is_masked() -> None:
    assert stream(Masker([SECRET]), [b"token=" + SECRET + b"\n"]) == b"token=" + MASK + b"\n"


def test_secret_split_over_every_byte_boundary_is_masked() -> None:
    text = b"before " + SECRET + b" after " + SECRET
    for cut in range(1, len(text)):
        out = stream(Masker([SECRET]), [text[:cut], text[cut:]])
        assert out == b"before " + MASK + b" after " + MASK, cut


def test_secret_trickling_byte_by_byte_is_masked() -> None:
    text = b"x" + SECRET + b"y"
    assert stream(Masker([SECRET]), [bytes([b]) for b in text]) == b"x" + MASK + b"y"


def test_no_secrets_passes_output_through_at_once() -> None:
    masker = Masker([])
    assert masker.feed(b"abc") == b"abc"
    assert masker.finish() == b""


def test_multi_line_secret_masks_each_line() -> None:
    key = b"-----BEGIN KEY-----\nAAAABBBBCCCCDDDD\nEEEEFFFFGGGGHHHH\n-----END KEY-----\n"
    masker = Masker(secret_variants(key))
    out = stream(masker, [b"line: EEEEFFFFGGGGHHHH\n", key])
    assert b"EEEEFFFFGGGGHHHH" not in out
    assert b"AAAABBBBCCCCDDDD" not in out


def test_file_content_with_trailing_newline_is_masked_without_it() -> None:
    assert SECRET in secret_variants(SECRET + b"\n")


def test_too_short_secret_is_not_masked() -> None:
    assert secret_variants(b"abc\n") == []


def test_joblog_masks_and_finalises() -> None:
    store = FakeStore()
    joblog = JobLog(store.live_log("logs/j/"), [SECRET])
    joblog.write(b"a " + SECRET[:5])
    joblog.write(SECRET[5:] + b" b")
    joblog.line("done")
    joblog.close()
    joblog.write(b"after close is dropped")
    assert store.files["logs/j/log"] == b"a " + MASK + b" b" + b"done\n"
