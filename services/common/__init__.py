"""HTTP pieces every service uses: errors, middleware, metrics, OpenAPI, app factory."""
