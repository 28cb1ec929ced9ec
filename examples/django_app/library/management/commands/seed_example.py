from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import transaction

from library.models import Author, Book

DEMO_USER = ("reader", "reader@example.com", "example-password")


class Command(BaseCommand):
    help = "Replace the example data (10 authors x 3 books, the fixture) and the demo user."

    @transaction.atomic
    def handle(self, *args, **options):
        # Delete first so rows added since (POST /books/create/) go too: re-running gives the
        # same data. The fixture is the one source of that data (the tests load it as well),
        # and loaddata resets the primary key sequences on databases that have them.
        Book.objects.all().delete()
        Author.objects.all().delete()
        call_command("loaddata", "library", verbosity=0)
        # The session views (/login/, /me/) need a user; the end-to-end tests log in as it.
        User = get_user_model()
        User.objects.filter(username=DEMO_USER[0]).delete()
        User.objects.create_user(*DEMO_USER)
        self.stdout.write(f"seeded {Author.objects.count()} authors, {Book.objects.count()} books")
