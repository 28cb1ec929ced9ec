from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from library.models import Author, Book

DEMO_USER = ("reader", "reader@example.com", "example-password")


class Command(BaseCommand):
    help = "Replace the library's rows with the deterministic example data (10 authors x 3 books)."

    @transaction.atomic
    def handle(self, *args, **options):
        Book.objects.all().delete()
        Author.objects.all().delete()
        for i in range(1, 11):
            author = Author.objects.create(id=i, name=f"Author {i}", email=f"author{i}@example.com")
            Book.objects.bulk_create(
                Book(id=(i - 1) * 3 + j, title=f"Book {i}.{j}", author=author, published=1990 + j)
                for j in range(1, 4)
            )
        User = get_user_model()
        User.objects.filter(username=DEMO_USER[0]).delete()
        User.objects.create_user(*DEMO_USER)
        self.stdout.write(f"seeded {Author.objects.count()} authors, {Book.objects.count()} books")
