"""A fresh database has the built-in workflows (SPEC §6: slug `invert` must exist)."""

from django.db import migrations


def add_builtins(apps, schema_editor):
    from jobs.core.builtin_workflows import install

    install(apps.get_model("jobs", "Workflow"))


class Migration(migrations.Migration):
    dependencies = [("jobs", "0001_initial")]
    operations = [migrations.RunPython(add_builtins, migrations.RunPython.noop)]
