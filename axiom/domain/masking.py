"""What configuration looks like when it is shown: credentials masked, for every role and every view.

One function for the API, the CLI (``axiom get``) and error messages that name a URL:
``mask_secrets`` masks credential fields anywhere in a mapping and every URL it finds in a string
value; ``mask_url`` hides a URL's userinfo password and the value of any query parameter whose name
says it is a credential (``?password=``, ``?token=``, ``?sig=``, ``?key=``, ``X-Amz-Signature``...).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote_plus, urlsplit

MASK = "********"
# Field names whose values are credentials, in any destination, source or crosswalk kind.
SECRET_FIELDS = frozenset(
    {"password", "passwd", "secret", "token", "api_key", "client_secret", "credentials", "private_key"}
)
# A query parameter whose name contains one of these is a credential (case-insensitive):
# password/passwd/pwd, token/access_token/security-token, secret, sig/signature (S3, GCS, Azure SAS),
# key/apikey/sslkey, auth, credential (X-Amz-Credential), session.
_SECRET_PARAM = re.compile(r"pass|pwd|token|secret|sig|key|auth|credential|session", re.IGNORECASE)
# name=value in a query string (or a fragment, as OAuth implicit flows use), up to & ; or #.
_PARAM = re.compile(r"(?P<sep>[?&;#])(?P<name>[^=&;#?]+)=(?P<value>[^&;#]*)")
# Schemes where a user name without a password is, in practice, a token.
_TOKEN_AS_USER = frozenset({"http", "https", "ws", "wss", "git+https"})
# Something with a scheme and an authority or a query: what is worth parsing as a URL.
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S+")


def _is_secret_reference(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"secret"} and isinstance(value["secret"], str)


def _mask_param(match: re.Match[str]) -> str:
    name, value = match.group("name"), match.group("value")
    if not value or not _SECRET_PARAM.search(unquote_plus(name)):
        return match.group(0)
    return f"{match.group('sep')}{name}={MASK}"


def _mask_userinfo(scheme: str, netloc: str) -> str:
    if "@" not in netloc:
        return netloc
    userinfo, _, hostport = netloc.rpartition("@")
    user, colon, password = userinfo.partition(":")
    if colon and password:
        return f"{user}:{MASK}@{hostport}"
    if not colon and scheme.lower() in _TOKEN_AS_USER:
        # https://TOKEN@host: a user name alone is how many services take a token.
        return f"{MASK}@{hostport}"
    return netloc


def mask_url(url: str) -> str:
    """``url`` with its password and credential query values replaced by ``********``; the rest of
    the text is kept as written. Anything that does not parse is masked whole when it could hold a
    credential (``@`` or ``=``)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK if "@" in url or "=" in url else url
    start = url.find("//") + 2 if parts.netloc else len(parts.scheme) + 1
    netloc = url[start : start + len(parts.netloc)]
    if netloc != parts.netloc:  # not the shape urlsplit read: do not guess
        return MASK if "@" in url or "=" in url else url
    tail = _PARAM.sub(_mask_param, url[start + len(netloc) :])
    return url[:start] + _mask_userinfo(parts.scheme, netloc) + tail


def mask_text(text: str) -> str:
    """Every URL inside ``text`` masked (for strings that are not only a URL)."""
    return _URL.sub(lambda match: mask_url(match.group(0)), text)


def mask_secrets(data: Any) -> Any:
    """``data`` with credential fields masked and the credentials of every URL hidden."""
    if isinstance(data, list | tuple):
        return [mask_secrets(item) for item in data]
    if isinstance(data, str):
        return mask_text(data) if "://" in data else data
    if not isinstance(data, dict):
        return data
    masked: dict[str, Any] = {}
    for key, value in data.items():
        if _is_secret_reference(value):
            # `{secret: NAME}` names where the value lives (axiom.secrets); it holds none itself.
            masked[key] = value
        elif key in SECRET_FIELDS and value not in (None, ""):
            masked[key] = MASK
        else:
            masked[key] = mask_secrets(value)
    return masked


__all__ = ["MASK", "SECRET_FIELDS", "mask_secrets", "mask_text", "mask_url"]
