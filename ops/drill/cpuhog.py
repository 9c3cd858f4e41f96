"""A CPU hog on every core beside the cluster while the rush runs: the masters must hold.

The saturation drill without the imports and wide logins: only the hog (stress-ng if
installed, else Python busy loops) and the rush. Checks as the saturation drill's.
"""

from __future__ import annotations

from typing import Any

from ops.drill import kit, saturate


def run(options: kit.Options) -> dict[str, Any]:
    seconds = options.seconds or (15.0 if options.short else 120.0)
    return saturate.run(
        kit.Options(options.short, options.database, seconds), imports=False, wide_logins=False, name="cpu-hog"
    )
