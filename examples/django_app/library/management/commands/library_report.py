"""A management command recorded as an otel-perf operation (outside any request)."""

from django.core.management.base import BaseCommand

import otel_perf
from library.models import Author


class Command(BaseCommand):
    help = "Print how many books each author has (an N+1, on purpose)."

    @otel_perf.track("library_report", kind="command")
    def handle(self, *args, **options):
        for author in Author.objects.order_by("id"):
            self.stdout.write(f"{author.name}: {author.books.count()} books")
