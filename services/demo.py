"""The demo city: departments, districts, categories and routing rules. Idempotent."""

from __future__ import annotations

from services.models import Category, Department, District, RoutingRule
from services.services import request_submit

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
                "order": 1,
                "values": [
                    {"key": "small", "name": "Smaller than a plate"},
                    {"key": "medium", "name": "Up to a car wheel"},
                    {"key": "large", "name": "Larger than a car wheel"},
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


# reporter email, category, description, (lat, lon), address, attributes
DEMO_REQUESTS = [
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
]


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
    for email, code, text, (lat, lon), address, attributes in DEMO_REQUESTS:
        reporter = users.get(email)
        category = Category.objects.filter(code=code).first()
        if reporter is None or category is None or email in already:
            continue
        request_submit(
            reporter=reporter,
            category=category,
            description=text,
            lat=lat,
            lon=lon,
            address=address,
            attribute_values=attributes,
        )
        filed += 1
    return filed
