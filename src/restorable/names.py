"""What a model name is: a name, never a path.

    "l0", "l0-jpeg", "my-warm.grade_2" ──► check_model_name ──► the same string
    "../../x", "/etc/x", ".hidden", "A"*100_000, "l0\\x00" ──► RestorableError (one line)

Model names arrive from everywhere a user or a file can put one: ``restorable.load(name)``,
``--op``/``--model``, the web page, ``train --pairs --name``, and the record inside an edited
file, which anyone can craft. Every one of those ways in calls :func:`check_model_name`, so the
loader only ever joins a short, separator-free stem onto a models folder (and then checks that
the file it found really lies inside that folder; see ``models._find``).

Lower case only: model files live on file systems that may ignore case, where "L0" and "l0"
would be the same file for one user and two for another.
"""

from __future__ import annotations

import re

from restorable.errors import RestorableError

MAX_NAME = 64
_NAME = re.compile(rf"[a-z0-9][a-z0-9._-]{{0,{MAX_NAME - 1}}}")


def is_model_name(name: object) -> bool:
    """True if ``name`` is a string that can name a model (see the module doc)."""
    return isinstance(name, str) and _NAME.fullmatch(name) is not None


def check_model_name(name: object, what: str = "model name") -> str:
    """``name`` if it is a valid model name, else a one-line RestorableError that says the rule
    (and shows at most 40 characters of what was given: a crafted name can be huge)."""
    if is_model_name(name):
        return name  # type: ignore[return-value]
    shown = repr(name) if not isinstance(name, str) else repr(name[:40])
    more = "..." if isinstance(name, str) and len(name) > 40 else ""
    raise RestorableError(
        f"{what} {shown}{more} is not valid: use lower-case letters, digits, '-', '_' and '.' "
        f"(up to {MAX_NAME}, starting with a letter or digit; no paths)"
    )
