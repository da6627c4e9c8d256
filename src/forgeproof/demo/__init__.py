"""``forgeproof demo``: a notes app protected by forgeproof, and an attacker
site beside it that tries to forge requests to it.

The app is written the way a user of forgeproof would write one, with the
public API only; read :mod:`forgeproof.demo.app` as the worked example. The
routes are a public interface, specified in ``docs/demo-contract.md``.
"""

from __future__ import annotations
