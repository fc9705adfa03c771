"""The HTTP API and feeds (``communique serve``): read access to meetings, sources and the office-holder
registry, an Atom feed per filter, health and metrics, and a token-protected source switch.

    app.py            create_app(settings): middleware (rate limit), error handlers, routers
    routes_*.py       thin endpoints: parse parameters, call the repository, shape the response
    filters.py        parameter validation (422 messages) and the pure filter decisions
    query.py          paging with filters SQL cannot apply portably (person, q)
    repository.py     all SQL of the API
    feeds.py          Atom rendering
    auth.py           bearer token of the write endpoints
    ratelimit.py      per-client token buckets
    schemas.py        response models (the OpenAPI document)
"""
