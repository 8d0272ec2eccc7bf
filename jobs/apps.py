from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "jobs"
    verbose_name = "ComfyWeb"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The admin lives with the other operators' tools, where Django's autodiscovery
        # (which imports `jobs.admin`) does not look; importing it registers the model admins.
        from jobs.operators import admin, people_admin  # noqa: F401
