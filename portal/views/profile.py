"""A person's own profile: name, phone, language and e-mail choices, with the history of
their changes; the e-mail address itself changes through allauth's verified flow."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.errors import Invalid
from portal.accounts.models import ProfileChange, User
from portal.accounts.services import FIELD_LABELS, profile_changes_of, profile_update
from portal.views.common import apply_errors, is_resident, role_required


class ProfileForm(forms.Form):
    display_name = forms.CharField(label=gettext_lazy("Name"), required=False, max_length=100)
    phone = forms.CharField(
        label=gettext_lazy("Phone"), required=False, max_length=32,
        help_text=gettext_lazy("Used only for text messages you agreed to; leave empty for none."),
    )
    preferred_language = forms.ChoiceField(
        label=gettext_lazy("Language"), choices=settings.LANGUAGES,
        help_text=gettext_lazy("Of the portal once you sign in, and of our e-mails to you."),
    )
    email_updates = forms.ChoiceField(
        label=gettext_lazy("E-mails about my requests"), choices=User.EmailUpdates.choices,
        widget=forms.RadioSelect,
    )


@role_required(is_resident)
def profile(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    if request.method == "POST":
        form = ProfileForm(request.POST)
        if form.is_valid():
            try:
                changed = profile_update(user=user, changes=dict(form.cleaned_data),
                                         via=ProfileChange.Via.WEB)
            except Invalid as error:
                apply_errors(form, error)
            else:
                if "preferred_language" in changed:
                    translation.activate(user.preferred_language)
                messages.success(request, _("Saved.") if changed else _("Nothing changed."))
                return HttpResponseRedirect(reverse("portal:profile"))
    else:
        form = ProfileForm(initial={f: getattr(user, f) for f in ProfileForm.base_fields})
    changes = [
        {"code": c.field, "field": FIELD_LABELS.get(c.field, c.field), "via": c.get_via_display(),
         "at": c.created_at}
        for c in profile_changes_of(user=user)
    ]
    return render(request, "portal/resident/profile.html",
                  {"form": form, "changes": changes, "email": user.email})
