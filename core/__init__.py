"""The ground floor: plain Python every app builds on (errors, roles, i18n, the security log,
the API plumbing). Not a Django app; it imports none of our packages and does not boot Celery."""
