"""The web console: static pages served by every student node, and a same-origin gateway
(`/api/<service>/<path>`) through which they call the public API of every service."""
