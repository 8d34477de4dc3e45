"""The grammar of task lines, `/image-refresh` and `CONTEXT@REVISION` (tasks/tasklines.py)."""

import pytest

from ouro.validate import InvalidValue
from tasks import tasklines
from tasks.tasklines import ContextRequest, InfraPull, Product, TaskLine


def test_an_unticked_line_asks_and_a_ticked_or_failed_one_does_not() -> None:
    body = "\n".join(
        [
            "Refresh our images.",
            "- [ ] image-refresh fedora-41",
            "- [x] image-refresh debian-12 log: http://logs/1",
            "* [ ] image-refresh rhel-9 FAIL: log: http://logs/2",
            "  - [X] image-refresh arch",
        ]
    )
    assert tasklines.task_lines(body) == [
        TaskLine("fedora-41", ticked=False, note=""),
        TaskLine("debian-12", ticked=True, note="log: http://logs/1"),
        TaskLine("rhel-9", ticked=False, note="FAIL: log: http://logs/2"),
        TaskLine("arch", ticked=True, note=""),
    ]
    assert tasklines.wanted(body) == ["fedora-41"]


def test_two_tasks_in_one_body_both_ask_and_a_repeated_name_counts_once() -> None:
    body = "- [ ] image-refresh a\r\n- [ ] image-refresh b\r\n- [x] image-refresh a\r\n"
    assert tasklines.wanted(body) == ["a", "b"]


@pytest.mark.parametrize(
    "line",
    [
        "image-refresh plain",  # not a task-list item
        "- [ ] image-refresh",  # no name
        "- [ ] image-refresh ../../etc/passwd",
        "- [ ] image-refresh $(reboot)",
        "- [ ] image-refresh `id`",
        "- [ ] image-refresh ;rm",
        "- [ ] image-refresh -rf",
        "- [ ] image-refresh a..b",
        "- [ ] image-refresh Ünïcode",
        "- [ ] image-refresh " + "a" * 101,
        "    - [ ] image-refresh code-block",  # indented 4: a code block in Markdown
        "> - [ ] image-refresh quoted",
        "- [ ] image-refreshed name",
        "- [y] image-refresh odd-box",
    ],
)
def test_hostile_or_malformed_lines_ask_for_nothing(line: str) -> None:
    assert tasklines.wanted(line) == []


def test_a_huge_body_is_bounded() -> None:
    body = "\n".join(f"- [ ] image-refresh img{i}" for i in range(1000))
    assert len(tasklines.wanted(body)) == tasklines.MAX_TASKS


def test_mark_ticks_only_that_line_and_keeps_the_rest() -> None:
    body = "Intro\r\n- [ ] image-refresh a\r\n- [ ] image-refresh b\r\nOutro"
    ticked = tasklines.mark(body, "b", done=True, note="log: http://l/b")
    assert (
        ticked == "Intro\r\n- [ ] image-refresh a\r\n- [x] image-refresh b log: http://l/b\r\nOutro"
    )
    failed = tasklines.mark(ticked, "a", done=False, note="FAIL: log: http://l/a")
    assert tasklines.task_lines(failed) == [
        TaskLine("a", ticked=False, note="FAIL: log: http://l/a"),
        TaskLine("b", ticked=True, note="log: http://l/b"),
    ]
    assert tasklines.wanted(failed) == []
    # Removing the FAIL: note (or unticking a done task) asks again.
    assert tasklines.wanted(tasklines.mark(failed, "a", done=False, note="")) == ["a"]
    assert tasklines.mark(body, "absent", done=True, note="x") == body


@pytest.mark.parametrize(
    ("comment", "name"),
    [
        ("/image-refresh fedora-41", "fedora-41"),
        ("Please:\n  /image-refresh debian-12  \nthanks", "debian-12"),
        ("/image-refresh ../x", None),
        ("/image-refresh $(id)", None),
        ("quoting /image-refresh x in prose", None),
        ("/image-refresh", None),
    ],
)
def test_the_comment_command(comment: str, name: str | None) -> None:
    assert tasklines.command(comment) == name


@pytest.mark.parametrize(
    ("arg", "request_"),
    [
        ("vm", ContextRequest("vm")),
        ("fedora-41/networking", ContextRequest("fedora-41/networking")),
        ("vm@infra#12", ContextRequest("vm", InfraPull(12))),
        ("fedora-41/networking@infra#3", ContextRequest("fedora-41/networking", InfraPull(3))),
        ("vm@ouro-demo/sample", ContextRequest("vm", Product("ouro-demo/sample"))),
        # An @ that is part of the context name stays in it.
        ("py@3.12", ContextRequest("py@3.12")),
        ("py@3.12@infra#7", ContextRequest("py@3.12", InfraPull(7))),
    ],
)
def test_context_requests(arg: str, request_: ContextRequest) -> None:
    assert tasklines.context_request(arg) == request_


@pytest.mark.parametrize(
    "arg",
    [
        "vm@infra#0",
        "vm@infra#-1",
        "vm@infra#99999999999",
        "vm@../../x",
        "vm@owner/na me",
        "@infra#1",
        "vm@infra#1;reboot",
        "vm@-owner/x",
    ],
)
def test_invalid_context_requests(arg: str) -> None:
    with pytest.raises(InvalidValue):
        tasklines.context_request(arg)


def test_suffixed_contexts() -> None:
    assert tasklines.suffixed("vm", InfraPull(12)) == "vm@infra#12"
    assert tasklines.suffixed("vm", Product("ouro-demo/sample")) == "vm@ouro-demo/sample"
