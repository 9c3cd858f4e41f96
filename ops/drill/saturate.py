from typing import Any

from ops.drill import kit


def run(options: kit.Options) -> dict[str, Any]:
    raise NotImplementedError
