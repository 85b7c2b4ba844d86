"""The CLI's one error boundary: whatever goes wrong, one line on stderr and a non-zero exit.

``BoundaryGroup`` is the root command's class, so the boundary holds however the app is run
(``modelyard ...``, ``python -m modelyard.cli.main``, Typer's test runner):

- usage errors (unknown option, bad value, missing argument): ``error: <message>``, exit 2;
- typed errors (``ModelyardError``): their message, exit 2 for invalid arguments, else 1;
- operating-system errors (a destination that cannot be written...): the reason and the path, exit 1;
- anything else is a bug: ``internal error: <type>: <message>``, exit 1, with a hint to rerun with
  ``--debug`` (or ``MODELYARD_DEBUG=1``), which prints the traceback as well.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Sequence
from typing import Any

import typer
from typer.core import TyperGroup

from modelyard.cli._output import print_error
from modelyard.core.errors import InvalidArgument, ModelyardError

#: Set by the root callback when ``--debug`` is given.
DEBUG_FLAG = {"on": False}


def debug_enabled() -> bool:
    if DEBUG_FLAG["on"]:
        return True
    try:
        from modelyard.settings import load_settings

        return load_settings().debug
    except Exception:  # a broken environment must not hide the error being reported
        return False


def _os_error_line(exc: OSError) -> str:
    reason = exc.strerror or str(exc) or type(exc).__name__
    if exc.filename is not None:
        target = f"{exc.filename}" + (f" -> {exc.filename2}" if exc.filename2 is not None else "")
        return f"{reason}: {target}"
    return reason


class BoundaryGroup(TyperGroup):
    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        DEBUG_FLAG["on"] = False
        code = 0
        try:
            result = super().main(
                args, prog_name, complete_var, standalone_mode=False, windows_expand_args=windows_expand_args, **extra
            )
            code = result if isinstance(result, int) and not isinstance(result, bool) else 0
        except typer.TyperException as exc:  # usage errors (Typer's own copy of click's classes)
            if type(exc).__name__ == "NoArgsIsHelpError":
                exc.show()  # type: ignore[attr-defined]  # the help, as asked for by giving no arguments
            else:
                print_error(exc.format_message())
            code = exc.exit_code
        except typer.Abort:
            print_error("aborted")
            code = 1
        except ModelyardError as exc:
            print_error(str(exc))
            code = 2 if isinstance(exc, InvalidArgument) else 1
        except OSError as exc:
            if debug_enabled():
                traceback.print_exc()
            print_error(_os_error_line(exc))
            code = 1
        except Exception as exc:
            if debug_enabled():
                traceback.print_exc()
                print_error(f"internal error: {type(exc).__name__}: {exc}")
            else:
                print_error(f"internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)")
            code = 1
        if standalone_mode:
            sys.exit(code)
        return code
