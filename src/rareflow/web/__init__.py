"""`rareflow serve`: the casework web application and JSON API (docs/serve.md).

Needs the `web` extra (`pip install 'rareflow[web]'`); nothing in the base package imports
it. Layers: `models.py` (application state in SQLAlchemy: users, sessions, tokens, decisions,
uploads, the audit log), `auth.py` (passwords, sessions, CSRF, tokens, roles), `service.py`
(the one store, its analysis cached per store state, the one writer), `views.py` (what each
page and API answer holds, scoped to the user: the importer's isolation lives there),
`app.py` (the routes)."""

ROLES = ("officer", "analyst", "importer", "admin")
