"""The demo city: departments, districts, categories and routing rules. Idempotent."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.utils import timezone
from PIL import Image, ImageDraw

from services.attachments import PreparedPhoto
from services.gazetteer import ImportCounts, addresses_import, addresses_parse
from services.models import (
    Category,
    Department,
    District,
    Event,
    Outcome,
    RoutingRule,
    ServiceRequest,
    StandardReply,
    Status,
)
from services.services import request_file

DEMO_ADDRESSES = Path(__file__).resolve().parent / "data" / "demo_addresses.csv"

if TYPE_CHECKING:
    import random
    from datetime import datetime

    from core.users import User

DEPARTMENTS = [
    ("roads", "Roads", "道路管理处", False),
    ("lighting", "Street Lighting", "路灯管理处", False),
    ("sanitation", "Sanitation", "环境卫生处", False),
    ("parks", "Parks", "园林绿化处", False),
    ("water", "Water", "供水管理处", False),
    ("complaints", "Complaints Office", "投诉办公室", False),
    ("triage", "Triage", "分拣中心", True),
    ("north-lighting", "North Lighting Contractor", "北区路灯承包商", False),
]


def _square(lon: float, lat: float, size: float = 0.05) -> dict:
    return {
        "type": "Polygon",
        "coordinates": [
            [
                [lon, lat],
                [lon + size, lat],
                [lon + size, lat + size],
                [lon, lat + size],
                [lon, lat],
            ]
        ],
    }


# Xiong'an-like grid around (115.95–116.05 E, 38.95–39.05 N).
DISTRICTS = [
    ("north", "North District", "北区", _square(115.95, 39.00)),
    ("south", "South District", "南区", _square(115.95, 38.95)),
    ("east", "East District", "东区", _square(116.00, 38.95, 0.10)),
]

# code, kind, en, zh, description en, description zh, department, sla hours, keywords, group,
# attributes, uses_classifier
CATEGORIES = [
    (
        "streetlight",
        "request",
        "Streetlight out",
        "路灯不亮",
        "A streetlight is dark, flickering or damaged.",
        "路灯不亮、闪烁或损坏。",
        "lighting",
        48,
        "light,lamp,dark,灯",
        "Lighting",
        [
            {
                "code": "pole_number",
                "datatype": "string",
                "required": False,
                "description": "Pole number (on the sticker)",
                "description_zh_hans": "灯杆编号（见标签）",
                "order": 1,
            }
        ],
        False,
    ),
    (
        "pothole",
        "request",
        "Pothole",
        "路面坑洞",
        "A hole or crack in the road surface.",
        "路面出现坑洞或裂缝。",
        "roads",
        72,
        "road,hole,crack,路,坑",
        "Roads",
        [
            {
                "code": "size",
                "datatype": "singlevaluelist",
                "required": True,
                "description": "How big is it?",
                "description_zh_hans": "坑有多大？",
                "order": 1,
                "values": [
                    {"key": "small", "name": "Smaller than a plate", "name_zh_hans": "比盘子小"},
                    {"key": "medium", "name": "Up to a car wheel",
                     "name_zh_hans": "不超过车轮大小"},
                    {"key": "large", "name": "Larger than a car wheel",
                     "name_zh_hans": "比车轮大"},
                ],
            }
        ],
        False,
    ),
    (
        "missed-collection",
        "request",
        "Missed rubbish collection",
        "垃圾未清运",
        "Household rubbish was not collected on the scheduled day.",
        "生活垃圾未按时清运。",
        "sanitation",
        24,
        "rubbish,garbage,bin,垃圾",
        "Sanitation",
        [],
        False,
    ),
    (
        "fallen-tree",
        "request",
        "Fallen or dangerous tree",
        "倒伏或危险树木",
        "A tree or large branch has fallen or may fall.",
        "树木或大树枝倒伏或有倒伏危险。",
        "parks",
        24,
        "tree,branch,树",
        "Parks",
        [],
        False,
    ),
    (
        "water-leak",
        "request",
        "Water leak",
        "漏水",
        "Water leaking from a pipe, hydrant or the street.",
        "管道、消防栓或路面漏水。",
        "water",
        12,
        "water,leak,pipe,水,漏",
        "Water",
        [],
        False,
    ),
    (
        "other",
        "request",
        "Something else",
        "其他问题",
        "Describe the problem; we will send it to the right department.",
        "请描述问题，我们会转交给相应部门。",
        None,
        72,
        "",
        "Other",
        [],
        True,
    ),
    (
        "complaint-service",
        "complaint",
        "Complaint about a service",
        "服务投诉",
        "A service was not delivered as it should have been.",
        "服务未按要求提供。",
        None,
        240,
        "",
        "Complaints",
        [],
        True,
    ),
    (
        "complaint-conduct",
        "complaint",
        "Complaint about staff conduct",
        "工作人员行为投诉",
        "How a member of staff behaved.",
        "工作人员的行为问题。",
        "complaints",
        240,
        "",
        "Complaints",
        [],
        False,
    ),
]


# The groups of the category list in Chinese (the English name is the category's `group`).
GROUPS_ZH_HANS = {
    "Lighting": "照明",
    "Roads": "道路",
    "Sanitation": "环境卫生",
    "Parks": "园林绿化",
    "Water": "供水",
    "Other": "其他",
    "Complaints": "投诉",
}


def seed_city() -> None:
    departments = {}
    for code, en, zh, is_triage in DEPARTMENTS:
        departments[code], _ = Department.objects.update_or_create(
            code=code, defaults={"name_en": en, "name_zh_hans": zh, "is_triage": is_triage}
        )
    districts = {}
    for code, en, zh, boundary in DISTRICTS:
        districts[code], _ = District.objects.update_or_create(
            code=code, defaults={"name_en": en, "name_zh_hans": zh, "boundary": boundary}
        )
    categories = {}
    for (code, kind, en, zh, den, dzh, dept, sla, keywords, group, attrs, classifier) in CATEGORIES:
        categories[code], _ = Category.objects.update_or_create(
            code=code,
            defaults={
                "kind": kind,
                "name_en": en,
                "name_zh_hans": zh,
                "description_en": den,
                "description_zh_hans": dzh,
                "department": departments[dept] if dept else None,
                "sla_hours": sla,
                "keywords": keywords,
                "group": group,
                "group_zh_hans": GROUPS_ZH_HANS.get(group, ""),
                "attributes": attrs,
                "uses_classifier": classifier,
                "is_public": kind == "request",
            },
        )
    # The North district's street lighting is run by a contractor.
    RoutingRule.objects.update_or_create(
        category=categories["streetlight"],
        district=districts["north"],
        defaults={
            "department": departments["north-lighting"],
            "order": 10,
            "note": "North district lighting is contracted out.",
        },
    )
    seed_standard_replies(departments)


# department code → (title en, title zh, text en, text zh): the clerks' standard replies.
STANDARD_REPLIES = {
    "roads": [
        ("Pothole filled", "坑洼已填补",
         "Thank you for your report. Our crew filled the pothole today.",
         "感谢您的报告。我们的施工队今天已填补了这个坑洼。"),
        ("Scheduled for repair", "已安排维修",
         "Thank you. The repair is scheduled; we will update you when it is done.",
         "谢谢。维修已安排，完成后我们会通知您。"),
        ("Not a city road", "非市政道路",
         "This road is private, so the city cannot repair it. Please contact the owner.",
         "这条道路属于私人所有，市政府无法维修。请联系业主。"),
    ],
    "lighting": [
        ("Lamp replaced", "路灯已更换",
         "Thank you for your report. The lamp has been replaced and works again.",
         "感谢您的报告。路灯已更换，现已恢复照明。"),
    ],
    "parks": [
        ("Tree work done", "树木已处理",
         "Thank you. Our parks team has cleared the fallen branches.",
         "谢谢。园林队已清理掉落的树枝。"),
    ],
}


def seed_standard_replies(departments: dict[str, Department]) -> None:
    for code, replies in STANDARD_REPLIES.items():
        if code not in departments:
            continue
        for order, (title_en, title_zh, body_en, body_zh) in enumerate(replies, start=1):
            StandardReply.objects.update_or_create(
                department=departments[code], title_en=title_en,
                defaults={"title_zh_hans": title_zh, "body_en": body_en,
                          "body_zh_hans": body_zh, "order": order * 10},
            )


# reporter email, category, description, (lat, lon), address, attributes
DEMO_REQUESTS: list[tuple[Any, ...]] = [
    (
        "resident@demo.civicdesk",
        "pothole",
        "学校门口的路面有一个很深的坑，下雨后积水。",
        (38.975, 116.03),
        "",
        {"size": "large"},
    ),
    (
        "resident@demo.civicdesk",
        "streetlight",
        "The streetlight by the north bus stop has been dark for three nights.",
        (39.02, 115.97),
        "North bus stop",
        {"pole_number": "N-117"},
    ),
    (
        "resident2@demo.civicdesk",
        "water-leak",
        "Water is bubbling up from a crack in the pavement.",
        (38.98, 116.06),
        "",
        {},
    ),
    # An address the gazetteer knows (precision "address": its point, street and district),
    # published with a photo, three days old: what the duplicate check shows a neighbour.
    (
        "resident@demo.civicdesk",
        "missed-collection",
        "The bins along Jianshe Road were not emptied on collection day.",
        (None, None),
        "8 Jianshe Road",
        {},
        {"days_ago": 3, "is_public": True, "photo": True},
    ),
]


def seed_gazetteer() -> ImportCounts:
    """Import the demo address gazetteer (services/data/demo_addresses.csv). Idempotent."""
    with DEMO_ADDRESSES.open(encoding="utf-8-sig", newline="") as stream:
        parsed = addresses_parse(stream)
    if parsed.errors:  # the shipped file is checked by a test; never half-import it
        raise ValueError("; ".join(parsed.errors[:5]))
    return addresses_import(rows=parsed.rows)


def _demo_photo() -> PreparedPhoto:
    """A small invented picture (green bins on grey), made here rather than shipped."""
    image = Image.new("RGB", (160, 120), (150, 150, 150))
    draw = ImageDraw.Draw(image)
    for x in (20, 65, 110):
        draw.rectangle((x, 40, x + 30, 100), fill=(40, 120, 60))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return PreparedPhoto(
        content=buffer.getvalue(), content_type="image/png", width=160, height=120
    )


def seed_requests() -> int:
    """File the demo residents' first requests through the real service (routing follows).

    Idempotent: a resident who already has requests gets none. Call after the demo people
    exist. Returns how many were filed.
    """
    from django.contrib.auth import get_user_model

    filed = 0
    users = {
        u.email: u for u in get_user_model().objects.filter(email__endswith="@demo.civicdesk")
    }
    already = {email for email, u in users.items() if u.reported_requests.exists()}
    for email, code, text, (lat, lon), address, attributes, *more in DEMO_REQUESTS:
        reporter = users.get(email)
        category = Category.objects.filter(code=code).first()
        if reporter is None or category is None or email in already:
            continue
        options: dict[str, Any] = more[0] if more else {}
        request, _created = request_file(
            reporter=reporter,
            photos=[_demo_photo()] if options.get("photo") else (),
            category=category.code,
            description=text,
            lat=lat,
            lon=lon,
            address=address,
            attribute_values=attributes,
            is_public=bool(options.get("is_public")),
        )
        if options.get("days_ago"):
            # Back-date it (demo only), with its timeline, so it shows an age.
            shift = timedelta(days=options["days_ago"])
            created = timezone.now() - shift
            ServiceRequest.objects.filter(pk=request.pk).update(
                created_at=created, due_at=created + timedelta(hours=category.sla_hours)
            )
            for event in Event.objects.filter(request=request):
                Event.objects.filter(pk=event.pk).update(created_at=event.created_at - shift)
        filed += 1
    return filed


# --- A year of history, so that every chart, table and queue of the demo shows something ---

# category → (requests over the year, share fixed, could not fix, not the city's, late share)
HISTORY = {
    "streetlight": (90, 0.70, 0.12, 0.03, 0.25),
    "pothole": (110, 0.62, 0.15, 0.05, 0.35),
    "missed-collection": (80, 0.85, 0.03, 0.02, 0.10),
    "fallen-tree": (45, 0.75, 0.05, 0.10, 0.20),
    "water-leak": (55, 0.66, 0.10, 0.12, 0.30),
    "other": (30, 0.30, 0.10, 0.35, 0.40),
}
HISTORY_TEXT = {
    "streetlight": ("The streetlight is dark.", "路灯不亮。"),
    "pothole": ("A deep pothole in the road.", "路面有坑。"),
    "missed-collection": ("The bins were not emptied.", "垃圾没有清运。"),
    "fallen-tree": ("A branch fell on the path.", "树枝掉在路上。"),
    "water-leak": ("Water is leaking from the pavement.", "人行道漏水。"),
    "other": ("Something in the street needs the city.", "街道问题需要处理。"),
}
RESOLUTION_TEXT = {
    "fixed": "Fixed.",
    "could_not_fix": "We could not fix it.",
    "not_city_responsibility": "This is not the city's responsibility.",
}
HISTORY_RESIDENTS = 12
HISTORY_DAYS = 330
# Open work for each demo clerk (department code → how many, of which overdue).
OPEN_WORK = {"roads": (9, 3), "lighting": (7, 2), "parks": (5, 1), "sanitation": (4, 1),
             "water": (4, 1), "triage": (3, 1)}
_CLERKS = {"roads": "clerk.roads@demo.civicdesk", "lighting": "clerk.lighting@demo.civicdesk",
           "parks": "clerk.parks@demo.civicdesk"}


def _history_residents() -> list:
    from django.contrib.auth import get_user_model

    users = []
    for n in range(1, HISTORY_RESIDENTS + 1):
        user, created = get_user_model().objects.get_or_create(
            email=f"neighbour{n}@demo.civicdesk",
            defaults={"display_name": f"Neighbour {n}",
                      "preferred_language": "zh-hans" if n % 2 else "en"},
        )
        if created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
        users.append(user)
    return users


def _point_in(district: District, rnd: random.Random) -> tuple[float, float]:
    ring = district.boundary["coordinates"][0]
    lons, lats = [p[0] for p in ring], [p[1] for p in ring]
    lat, lon = rnd.uniform(min(lats), max(lats)), rnd.uniform(min(lons), max(lons))
    return round(lat, 5), round(lon, 5)


def seed_history(*, now: datetime | None = None) -> int:
    """Back-dated requests of the past year (resolved, fixed or not, some late, in every
    district) and open work in each demo department's queue. Written as rows with their
    timeline events (no notifications: these people and events are invented). Idempotent:
    nothing happens once the history residents have requests. Returns how many were made."""
    import random
    from datetime import timedelta

    from django.contrib.auth import get_user_model
    from django.utils import timezone


    residents = _history_residents()
    if ServiceRequest.objects.filter(reporter__in=residents).exists():
        return 0
    now = now or timezone.now()
    rnd = random.Random(19)  # noqa: S311 - the same invented demo city every time
    districts = list(District.objects.order_by("code"))
    categories = {c.code: c for c in Category.objects.filter(code__in=HISTORY)}
    clerks = {d: get_user_model().objects.filter(email=e).first() for d, e in _CLERKS.items()}
    rows: list[tuple[ServiceRequest, list[Event]]] = []

    def make(category: Category, *, created: datetime, status: str, outcome: str = "",
             resolved: datetime | None = None, department: Department | None = None,
             assignee: User | None = None) -> None:
        district = rnd.choice(districts)
        lat, lon = _point_in(district, rnd)
        en, zh = HISTORY_TEXT[category.code]
        reporter = rnd.choice(residents)
        due = created + timedelta(hours=category.sla_hours)
        request = ServiceRequest(
            kind=category.kind, category=category, description=zh if reporter.pk % 2 else en,
            lat=lat, lon=lon, district=district, status=status, outcome=outcome,
            department=department or category.department, assignee=assignee,
            reporter=reporter, due_at=due, created_at=created,
            routed_at=created + timedelta(minutes=2), resolved_at=resolved,
            closed_at=(
                resolved + timedelta(days=7)
                if status == Status.CLOSED and resolved is not None else None
            ),
            sla_breached_at=due if (resolved or now) > due else None,
            priority=3 if (resolved or now) > due else 2,
        )
        to = request.department
        explanation = {
            "en": f"Sent to {to.name_en} because you chose '{category.name_en}'.",
            "zh-hans": f"已转交{to.name_zh_hans or to.name_en}，因为您选择了“"
                       f"{category.name_zh_hans or category.name_en}”。",
        } if to is not None else {}
        language = "zh-hans" if reporter.preferred_language == "zh-hans" else "en"
        events = [
            Event(type=Event.Type.SUBMITTED, to_status=Status.SUBMITTED, actor=reporter,
                  actor_role="resident", created_at=created),
            Event(type=Event.Type.ROUTED, from_status=Status.SUBMITTED, to_status=Status.ROUTED,
                  actor_role="system", created_at=created + timedelta(minutes=2),
                  text=explanation.get(language, ""),
                  data={"method": "triage" if to is not None and to.is_triage
                        else "category_default",
                        "department": {"id": to.pk, "code": to.code} if to else None,
                        "category": category.code, "district": district.code,
                        "return_count": 0, "excluded_department_ids": [],
                        "explanation": explanation}),
        ]
        if resolved is not None:
            events.append(Event(
                type=Event.Type.STATUS_CHANGED, from_status=Status.IN_PROGRESS,
                to_status=Status.RESOLVED, actor_role="clerk", created_at=resolved,
                data={"move": "resolve", "outcome": outcome},
                text=RESOLUTION_TEXT.get(outcome, "Done.")))
        if status == Status.CLOSED and resolved is not None:
            events.append(Event(
                type=Event.Type.STATUS_CHANGED, from_status=Status.RESOLVED,
                to_status=Status.CLOSED, actor_role="system",
                created_at=resolved + timedelta(days=7),
                data={"move": "close", "auto_closed": True}))
        request.version = len(events)  # each event of the timeline is one version
        rows.append((request, events))

    for code, (count, fixed, could_not, not_city, late) in HISTORY.items():
        category = categories.get(code)
        if category is None:
            continue
        for _ in range(count):
            created = now - timedelta(days=rnd.uniform(10, HISTORY_DAYS))
            draw = rnd.random()
            outcome = (Outcome.FIXED if draw < fixed else Outcome.COULD_NOT_FIX
                       if draw < fixed + could_not else Outcome.NOT_CITY_RESPONSIBILITY
                       if draw < fixed + could_not + not_city else Outcome.NO_ACTION_NEEDED)
            sla = category.sla_hours
            hours = rnd.uniform(sla * 1.1, sla * 4) if rnd.random() < late else \
                rnd.uniform(sla * 0.1, sla * 0.9)
            make(category, created=created, status=Status.CLOSED, outcome=outcome,
                 resolved=created + timedelta(hours=hours))
    by_department = {c.department.code: c for c in categories.values() if c.department}
    if "other" in categories:  # no department of its own: it waits in Triage
        by_department.setdefault("triage", categories["other"])
    triage = Department.objects.filter(is_triage=True).first()
    for dept, (count, overdue) in OPEN_WORK.items():
        category = by_department.get(dept)
        if category is None:
            continue
        for i in range(count):
            hours = category.sla_hours * (1.5 if i < overdue else rnd.uniform(0.1, 0.6))
            make(category, created=now - timedelta(hours=hours),
                 status=Status.IN_PROGRESS if dept in clerks else Status.ROUTED,
                 department=triage if dept == "triage" else None,
                 assignee=clerks.get(dept) if i % 3 != 2 else None)
    requests = ServiceRequest.objects.bulk_create([r for r, _ in rows])
    events = []
    for request, (_, timeline) in zip(requests, rows, strict=True):
        for version, event in enumerate(timeline, start=1):
            event.request = request
            event.version = version
        events += timeline
    saved = Event.objects.bulk_create(events)
    # auto_now_add stamped the events "now": put them back where they happened.
    for event, original in zip(saved, events, strict=True):
        event.created_at = original.created_at
    Event.objects.bulk_update(saved, ["created_at"])
    return len(requests)
