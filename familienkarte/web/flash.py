"""A message for the next page: set before a redirect, shown once by the page that follows (``flash_message``)."""

from __future__ import annotations

from typing import Final

from litestar.response import Redirect

from familienkarte.accounts.sessions import SessionState

FLASH_KEY: Final = "flash"


def redirect_with_flash(web_session: SessionState, path: str, message: str) -> Redirect:
    """303 to ``path``, which then shows ``message`` (a msgid, translated when shown)."""
    web_session[FLASH_KEY] = message
    return Redirect(path, status_code=303)
