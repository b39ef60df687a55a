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

    class EmailUpdates(models.TextChoices):
        ALL = "all", _("every public update of my requests")
        OUTCOMES = "outcomes", _("only when a request is resolved, closed or not accepted")
        OFF = "off", _("no e-mails about my requests")

    username = None  # type: ignore[assignment]
    first_name = None  # type: ignore[assignment]
    last_name = None  # type: ignore[assignment]
    email = models.EmailField(_("email address"), unique=True)
    display_name = models.CharField(_("display name"), max_length=100, blank=True)
    preferred_language = models.CharField(
        _("preferred language"), max_length=10, choices=Language.choices, default=Language.EN
    )
    phone = models.CharField(_("phone"), max_length=32, blank=True)
    email_updates = models.CharField(
        _("e-mails about my requests"), max_length=10, choices=EmailUpdates.choices,
        default=EmailUpdates.ALL,
    )
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


class ProfileChange(models.Model):
    """A change a person made to their own profile, shown to them (which field, when, how);
    never the old or new value, which would keep personal data they replaced."""

    class Via(models.TextChoices):
        WEB = "web", _("the portal")
        API = "api", _("the app")
        EMAIL_FLOW = "email", _("e-mail address confirmation")

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="profile_changes")
    field = models.CharField(max_length=40)
    via = models.CharField(max_length=10, choices=Via.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.field} changed by user #{self.user_id}"
