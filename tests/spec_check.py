"""Checking real answers against a service's OpenAPI document (issue 13, item 6).

`SpecCheck.check` finds the operation a request went to (its path template and method),
the response documented for the status code, the media type the answer came in, and
validates the body against that schema with `openapi-schema-validator` (OpenAPI 3.1's
dialect of JSON Schema, the `$ref`s resolved against the document's components). A JSON
request body that was accepted (2xx) is checked against the operation's request schema
too: a schema stricter than the service would be as wrong as a looser one.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from openapi_schema_validator import OAS31Validator

NO_BODY = {204, 304}
JSON_TYPES = ("application/json", "application/problem+json")
# The rush contract's shapes (the queue's requests, the ledger's decisions) move into one
# module under issue 13 (item 1), whose work documents them; until then they are the
# known exceptions: (service, method, path, "body" or status). Remove an entry when its
# schema is written.
NOT_YET: set[tuple[str, str, str, str]] = set()  # every operation has its schemas now


@dataclass
class SpecCheck:
    service: str
    spec: dict[str, Any]
    checked: set[tuple[str, str, str]] = field(default_factory=set)  # (method, template, status) seen

    def operation(self, method: str, path: str) -> tuple[str, dict[str, Any]]:
        """The path template `path` matches (a literal segment beats a parameter) and its operation."""
        matches = []
        for template, operations in self.spec["paths"].items():
            pattern = "^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$"
            if re.match(pattern, path) and method.lower() in operations:
                matches.append((template.count("{"), template, operations[method.lower()]))
        assert matches, f"{method} {path} is not in the spec"
        _, template, operation = min(matches, key=lambda m: m[0])
        return template, operation

    def resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            kind, name = node["$ref"].removeprefix("#/components/").split("/")
            node = self.spec["components"][kind][name]
        return node

    def errors(self, schema: dict[str, Any], value: Any) -> list[str]:
        validator = OAS31Validator({"components": self.spec.get("components", {}), **schema})
        return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in validator.iter_errors(value)]

    def check(
        self,
        method: str,
        path: str,
        status: int,
        content_type: str,
        body: bytes,
        sent: Any = None,
    ) -> list[str]:
        """What is wrong with this answer (and the JSON sent) according to the spec; [] if nothing."""
        template, operation = self.operation(method, path.split("?")[0])
        label = f"{method} {template} -> {status}"
        responses = operation["responses"]
        code = next((c for c in (str(status), f"{status // 100}XX", "default") if c in responses), None)
        if code is None:
            return [f"{label}: status not documented ({', '.join(responses)})"]
        self.checked.add((method.upper(), template, code))
        problems = []
        if sent is not None and status < 300 and "requestBody" in operation:
            request_content = self.resolve(operation["requestBody"]).get("content", {})
            if "application/json" in request_content:
                problems += [
                    f"{label} request {e}" for e in self.errors(request_content["application/json"]["schema"], sent)
                ]
        response = self.resolve(responses[code])
        if status in NO_BODY:
            return problems + ([f"{label}: a body where none is documented"] if body else [])
        media = content_type.split(";")[0].strip()
        content = response.get("content", {})
        if not content and (self.service, method.upper(), template, code) in NOT_YET:
            return problems
        if media not in content:
            return [*problems, f"{label}: answered {media!r}, documented {sorted(content)}"]
        schema = content[media].get("schema")
        if schema is None:
            return [*problems, f"{label}: {media} has no schema"]
        value: Any = json.loads(body) if media in JSON_TYPES else body.decode()
        return problems + [f"{label} {e}" for e in self.errors(schema, value)]
