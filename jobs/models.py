"""Django loads an app's models from `jobs.models`; they live in jobs.core.models."""

from jobs.core.models import *  # noqa: F403
from jobs.people.models import *  # noqa: F403
