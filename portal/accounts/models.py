"""The user model: email is the login; residents and staff are the same kind of account."""

from django.contrib.auth.base_user import BaseUserManager
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra: object) -> "User":
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra: object) -> "User":
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra: object) -> "User":
        extra["is_staff"] = True
        extra["is_superuser"] = True
        return self._create_user(email, password, **extra)


class User(AbstractUser):
    class Language(models.TextChoices):
        EN = "en", "English"
        ZH_HANS = "zh-hans", "简体中文"

    username = None  # type: ignore[assignment]
    first_name = None  # type: ignore[assignment]
    last_name = None  # type: ignore[assignment]
    email = models.EmailField(_("email address"), unique=True)
    display_name = models.CharField(_("display name"), max_length=100, blank=True)
    preferred_language = models.CharField(
        _("preferred language"), max_length=10, choices=Language.choices, default=Language.EN
    )
    phone = models.CharField(_("phone"), max_length=32, blank=True)
    is_data_officer = models.BooleanField(
        _("data officer"),
        default=False,
        help_text=_("May read the consent and access logs and handle data-subject requests."),
    )

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS = []  # type: ignore[misc]  # noqa: RUF012

    objects = UserManager()  # type: ignore[assignment, misc]

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")

    def __str__(self) -> str:
        # Never the email: str(user) ends up in logs and admin breadcrumbs.
        return f"user #{self.pk}"
