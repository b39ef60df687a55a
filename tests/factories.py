"""factory_boy factories for every model the tests build."""

from __future__ import annotations

import factory
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model

from services.gazetteer import address_text, normalise, search_key_of
from services.models import (
    Category,
    Department,
    DepartmentMembership,
    District,
    GazetteerAddress,
    ServiceRequest,
)

PASSWORD = "correct horse battery staple"
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
# The member DepartmentFactory gives a department so that routing sends it work (see there).
STAND_IN_STAFF = "stand-in.staff@example.org"


def enroll_totp(user) -> None:  # type: ignore[no-untyped-def]
    """Give a staff account its second factor (staff roles need TOTP enrolled)."""
    from allauth.mfa.models import Authenticator
    from allauth.mfa.totp.internal.auth import TOTP

    if not Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists():
        TOTP.activate(user, TOTP_SECRET)


def current_totp_code() -> str:
    import time

    from allauth.mfa import app_settings
    from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value

    counter = int(time.time()) // app_settings.TOTP_PERIOD
    return format_hotp_value(hotp_value(TOTP_SECRET, counter))


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"person{n}@example.org")
    display_name = factory.Faker("name")
    phone = factory.Sequence(lambda n: f"+86 138 0000 {n:04d}")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def verified(self, create, extracted, **kwargs):  # type: ignore[no-untyped-def]
        if not create:
            return
        self.save()
        if self.is_data_officer or self.is_superuser:
            enroll_totp(self)
        if extracted is False:
            return
        EmailAddress.objects.create(user=self, email=self.email, verified=True, primary=True)


class DepartmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Department
        django_get_or_create = ("code",)
        skip_postgeneration_save = True

    code = factory.Sequence(lambda n: f"dept-{n}")
    name_en = factory.LazyAttribute(lambda o: o.code.replace("-", " ").title())
    name_zh_hans = "部门"

    @factory.post_generation
    def staffed(self, create, extracted, **kwargs):  # type: ignore[no-untyped-def]
        """Routing sends nothing to a department without staff: by default one stand-in
        member (a shared account with no second factor, so no staff powers) holds the
        department open until MembershipFactory adds a real member, which replaces it.
        `DepartmentFactory(staffed=False)` builds an unstaffed one."""
        if not create or extracted is False:
            return
        stand_in, _ = get_user_model().objects.get_or_create(
            email=STAND_IN_STAFF, defaults={"display_name": "Stand-in"}
        )
        DepartmentMembership.objects.get_or_create(user=stand_in, department=self)


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DepartmentMembership
        skip_postgeneration_save = True

    user = factory.SubFactory(UserFactory)
    department = factory.SubFactory(DepartmentFactory)
    role = DepartmentMembership.Role.CLERK

    @factory.post_generation
    def totp(self, create, extracted, **kwargs):  # type: ignore[no-untyped-def]
        if create and extracted is not False:
            enroll_totp(self.user)

    @factory.post_generation
    def replaces_stand_in(self, create, extracted, **kwargs):  # type: ignore[no-untyped-def]
        if create and self.user.is_active:
            DepartmentMembership.objects.filter(
                department=self.department, user__email=STAND_IN_STAFF
            ).exclude(pk=self.pk).delete()


class DistrictFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = District
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"district-{n}")
    name_en = factory.LazyAttribute(lambda o: o.code.title())
    # A 0.1° square starting at (lon 116.0, lat 39.0) shifted by the sequence number.
    boundary = factory.Sequence(
        lambda n: {
            "type": "Polygon",
            "coordinates": [
                [
                    [116.0 + n * 0.1, 39.0],
                    [116.1 + n * 0.1, 39.0],
                    [116.1 + n * 0.1, 39.1],
                    [116.0 + n * 0.1, 39.1],
                    [116.0 + n * 0.1, 39.0],
                ]
            ],
        }
    )


class CategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Category
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"category-{n}")
    name_en = factory.LazyAttribute(lambda o: o.code.replace("-", " ").title())
    name_zh_hans = "类别"
    description_en = "A kind of problem."
    department = factory.SubFactory(DepartmentFactory)
    sla_hours = 48
    kind = Category.Kind.REQUEST


class ServiceRequestFactory(factory.django.DjangoModelFactory):
    """A bare row; tests of behaviour should file requests through services.request_submit."""

    class Meta:
        model = ServiceRequest

    category = factory.SubFactory(CategoryFactory)
    kind = factory.LazyAttribute(lambda o: o.category.kind)
    description = "The streetlight outside number 12 has been dark for three nights."
    lat = 39.05
    lon = 116.05
    reporter = factory.SubFactory(UserFactory)
    department = factory.LazyAttribute(lambda o: o.category.department)


class GazetteerAddressFactory(factory.django.DjangoModelFactory):
    """One address of the gazetteer (as `import_addresses` would store it)."""

    class Meta:
        model = GazetteerAddress

    number = factory.Sequence(lambda n: str(n + 1))
    street = "Jianshe Road"
    city = "Example City"
    postcode = "071000"
    lat = 39.05
    lon = 116.05
    district = None
    text = factory.LazyAttribute(
        lambda o: address_text(number=o.number, street=o.street, city=o.city, postcode=o.postcode)
    )
    search_key = factory.LazyAttribute(
        lambda o: search_key_of(number=o.number, street=o.street, city=o.city,
                                postcode=o.postcode)
    )
    street_key = factory.LazyAttribute(lambda o: normalise(o.street))
