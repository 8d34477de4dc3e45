"""`python -m vm ACTION …` = `ouro vm ACTION …`, for hosts and tests without the CLI wiring."""

import argparse
import logging
import sys

from ouro.config import ConfigError
from vm.cli import register


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages as well")
    register(parser.add_subparsers(required=True))
    arguments = sys.argv[1:] if argv is None else argv
    # The options of `ouro` itself first, then ours under the `vm` command that register adds.
    leading = [item for item in arguments[:1] if item in ("-v", "--verbose")]
    args = parser.parse_args([*leading, "vm", *arguments[len(leading) :]])
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    try:
        code: int = args.func(args)
    except ConfigError as error:
        print(f"Configuration error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
