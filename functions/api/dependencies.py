"""Settings for the API function, read from the environment once per cold start.

Routes call `settings()`; tests that change the environment call `settings.cache_clear()`.
"""

from __future__ import annotations

from functools import cache

from climatrak.core.config import Settings


@cache
def settings() -> Settings:
    return Settings.from_env()
