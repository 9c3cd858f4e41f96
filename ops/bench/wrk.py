"""Running wrk (Debian package `wrk`) as the load generator, and reading its figures."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import psutil


def require_wrk() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise SystemExit("wrk not found: install it (apt-get install wrk)")
    return path


def run_wrk(
    url: str,
    seconds: float,
    connections: int,
    method: str = "GET",
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> dict[str, float]:
    """Requests/s, non-2xx count, and wrk's own CPU use (share of one core) for one run."""
    lua = [f'wrk.method = "{method}"']
    if body is not None:
        lua.append(f"wrk.body = {json.dumps(json.dumps(body))}")
        lua.append('wrk.headers["Content-Type"] = "application/json"')
    for name, value in (headers or {}).items():
        lua.append(f'wrk.headers["{name}"] = "{value}"')
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write("\n".join(lua) + "\n")
    try:
        command = [require_wrk(), "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "-s", script.name, url]
        process = psutil.Popen(command, stdout=subprocess.PIPE, text=True)
        out, _ = process.communicate()
    finally:
        Path(script.name).unlink()
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if rate is None:
        raise RuntimeError(f"wrk printed no rate:\n{out}")
    return {"requests_per_s": float(rate.group(1)), "non_2xx": float(errors.group(1)) if errors else 0.0}
