"""Who owns tabs, jobs and uploads: an owner key (issue U).

In open mode the owner is the browser session (its key). A signed-in person is the owner of
everything their tabs make, on every device: the key "user:<id>", which Django's rotation of
the session key at sign-in does not change. The job tables store the key in their
`session_key` column (the name predates accounts).
"""

from __future__ import annotations

USER_PREFIX = "user:"


def of_user(user_id: int) -> str:
    return f"{USER_PREFIX}{user_id}"


def user_id_of(owner: str) -> int | None:
    """The person's id for a person's key; None for a session's."""
    if not owner.startswith(USER_PREFIX):
        return None
    rest = owner[len(USER_PREFIX) :]
    return int(rest) if rest.isdigit() else None
