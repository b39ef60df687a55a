"""allauth adapter: keeps the account-level behaviour that is ours."""

from allauth.account.adapter import DefaultAccountAdapter


class AccountAdapter(DefaultAccountAdapter):
    def save_user(self, request, user, form, commit=True):  # type: ignore[no-untyped-def]
        user = super().save_user(request, user, form, commit=False)
        language = getattr(request, "LANGUAGE_CODE", "en")
        if language in ("en", "zh-hans"):
            user.preferred_language = language
        if commit:
            user.save()
        return user
