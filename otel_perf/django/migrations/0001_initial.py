# The permission holder (no table: managed = False); applying it creates the permission.

from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = []

    operations = [
        migrations.CreateModel(
            name="PerformanceAccess",
            fields=[
                (
                    "id",
                    models.AutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
            ],
            options={
                "permissions": [("view_performance", "Can view performance data")],
                "managed": False,
                "default_permissions": (),
            },
        ),
    ]
