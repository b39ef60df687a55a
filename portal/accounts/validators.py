"""Password rules beyond Django's built-ins (OWASP ASVS 2.1.2: allow at least 64 chars)."""

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

MAX_PASSWORD_LENGTH = 128


class MaximumLengthValidator:
    """Refuse only absurdly long passwords (hashing cost), never long passphrases."""

    def validate(self, password: str, user: object = None) -> None:
        if len(password) > MAX_PASSWORD_LENGTH:
            raise ValidationError(
                _("This password is too long; use at most %(max)d characters.")
                % {"max": MAX_PASSWORD_LENGTH},
                code="password_too_long",
            )

    def get_help_text(self) -> str:
        return _("Your password can be up to %(max)d characters long.") % {
            "max": MAX_PASSWORD_LENGTH
        }
