"""Thin glue between forgeproof and web frameworks.

Each module imports its framework, so import the one you use:
:mod:`forgeproof.integrations.flask`, :mod:`forgeproof.integrations.starlette`
or :mod:`forgeproof.integrations.fastapi`. None of them decides anything:
the middleware and the policy do.
"""
