"""`manage.py train_router`: retrain the routing classifier (seed set + consented requests)."""

from django.core.management.base import BaseCommand, CommandError

from services.classifier import model_path, router_train


class Command(BaseCommand):
    help = "Train the routing classifier on the seed set and staff-confirmed, consented requests."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument(
            "--seed-only", action="store_true", help="Train on the shipped seed set only."
        )

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        try:
            model = router_train(include_requests=not options["seed_only"])
        except ValueError as exc:  # a real city without examples of two departments yet
            raise CommandError(f"no model trained: {exc}") from exc
        self.stdout.write(
            f"router model {model.version}: {model.data['n_samples']} examples "
            f"({model.data.get('n_requests', 0)} from requests), "
            f"{len(model.classes)} departments → {model_path()}"
        )
