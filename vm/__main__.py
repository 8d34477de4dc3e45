"""`python -m vm ACTION …` is `ouro vm ACTION …`, for hosts and tests without the `ouro` script."""

import sys

from ouro.cli import main as ouro


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    # `ouro`'s own option, if given first, stays before the command.
    leading = arguments[:1] if arguments[:1] in (["-v"], ["--verbose"]) else []
    return ouro([*leading, "vm", *arguments[len(leading) :]])


if __name__ == "__main__":
    sys.exit(main())
