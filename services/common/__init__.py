"""HTTP pieces every service uses: errors, middleware, metrics, OpenAPI, app factory."""

from starlette.convertors import register_url_convertor

from services.common.paths import Int64Convertor

register_url_convertor("int", Int64Convertor())  # before any route is built (see paths.py)
