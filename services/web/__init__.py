"""The web dashboard (``communique serve`` at ``/``): meetings, who meets whom, people, source health, alerts.

    routes.py         the pages and the live-update endpoint; ``install(app)`` mounts them and /static
    views.py          pure view models: records and repository rows -> what a template shows
    templates.py      the Jinja2 environment (autoescape everywhere, strict undefined)
    templates/        server-rendered pages
    static/           CSS, two small scripts, and the vendored d3 (static/vendor, see tools/vendor_js.sh)

The pages read through the API's repository and paging (services.api); no SQL lives here.
"""
