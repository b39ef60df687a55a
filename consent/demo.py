"""Demo data for the data-use register: the demo city's purposes and their first notices."""

from __future__ import annotations

from consent import policy
from consent.models import Notice
from consent.register import DPV
from consent.services import notice_publish, purpose_upsert
from services.models import Department

# code, title en, title zh, description en, description zh, dpv purpose, basis, legal reference,
# categories, departments ("*" = all), recipients, retention days, trigger, end action
PURPOSES = [
    (
        policy.PURPOSE_SERVICE_DELIVERY,
        "Handling your reports and complaints",
        "处理您的报告和投诉",
        "We use your account, the location, photos and text of your report to route it to the "
        "right department, fix the problem and answer you.",
        "我们使用您的账户、报告的位置、照片和文字，将其转交给相应部门、解决问题并答复您。",
        DPV + "ServiceProvision",
        "public_task",
        "Municipal service centre ordinance, art. 4 (handling residents' reports)",
        ["account", "contact", "exact_location", "photos", "free_text", "request_metadata"],
        "*",
        [],
        730,
        "after the request is closed",
        "anonymise",
    ),
    (
        policy.PURPOSE_STATUS_EMAILS,
        "E-mails about the status of your requests",
        "关于请求状态的电子邮件",
        "When the status of your request changes we e-mail you. This is part of handling your "
        "request; you can choose to get fewer e-mails in your settings.",
        "当您的请求状态变化时，我们会给您发送电子邮件。这是处理请求的一部分。",
        DPV + "CommunicationForCustomerCare",
        "public_task",
        "Municipal service centre ordinance, art. 6 (informing the reporter)",
        ["email", "request_metadata"],
        "*",
        [{"name": "Example Mail Relay Ltd.", "role": "processor", "country": "CN"}],
        90,
        "after the e-mail is sent",
        "delete",
    ),
    (
        policy.PURPOSE_SMS,
        "Text messages (SMS) about your requests",
        "关于请求的短信通知",
        "If you agree, we text your phone number when your request changes status. Optional: "
        "you can withdraw at any time and still get e-mails.",
        "如果您同意，当请求状态变化时我们会向您的手机号码发送短信。可选，可随时撤回。",
        DPV + "CommunicationForCustomerCare",
        "consent",
        "",
        ["phone", "request_status"],
        "",
        [{"name": "Example SMS Gateway Co.", "role": "processor", "country": "CN"}],
        90,
        "after the message is sent",
        "delete",
    ),
    (
        policy.PURPOSE_SURVEY,
        "Satisfaction surveys",
        "满意度调查",
        "If you agree, after your request is closed we ask you a few questions about how it "
        "was handled. Optional.",
        "如果您同意，在请求关闭后我们会询问您几个关于处理情况的问题。可选。",
        DPV + "ImproveExistingProductsAndServices",
        "consent",
        "",
        ["email", "request_metadata"],
        "",
        [],
        365,
        "after the survey closes",
        "anonymise",
    ),
    (
        policy.PURPOSE_CONTRACTOR,
        "Sharing your contact details with the contractor doing the repair",
        "与维修承包商共享您的联系方式",
        "If you agree, the contractor repairing what you reported may call you to find the "
        "exact spot or get access. Optional: without it the department coordinates instead.",
        "如果您同意，负责维修的承包商可能会致电您确认具体位置。可选。",
        DPV + "CommunicationForCustomerCare",
        "consent",
        "",
        ["name", "phone", "exact_location"],
        "",
        [{"name": "Example Road Works Contractor Ltd.", "role": "processor", "country": "CN"}],
        30,
        "after the work order is closed",
        "delete",
    ),
    (
        policy.PURPOSE_ROUTING_TRAINING,
        "Training the routing model on the text of my reports",
        "使用我的报告文字训练分派模型",
        "If you agree, the text of your reports (without your name or contact details) is used "
        "to train the model that suggests which department should handle new reports. "
        "Optional.",
        "如果您同意，您报告的文字（不含姓名和联系方式）将用于训练分派模型。可选。",
        DPV + "ServiceOptimisation",
        "consent",
        "",
        ["free_text", "request_metadata"],
        "",
        [],
        730,
        "after the request is closed",
        "delete",
    ),
    (
        policy.PURPOSE_OPEN_STATISTICS,
        "Anonymised open statistics",
        "匿名公开统计",
        "We publish counts of requests by category, district and month, and how fast they were "
        "handled. No personal data: small counts are suppressed.",
        "我们按类别、区域和月份公布请求数量及处理速度。不含个人数据。",
        DPV + "PublicBenefit",
        "public_task",
        "Open government data regulation, art. 9",
        ["request_metadata"],
        "",
        [],
        3650,
        "after publication",
        "anonymise",
    ),
]


def notice_text(description: str, code: str, basis: str, retention_days: int) -> str:
    lines = [description]
    if basis == "consent":
        lines.append(
            "This is optional. Saying no changes nothing else about how your requests are "
            "handled. You can withdraw at any time, as easily as you gave it."
        )
    lines.append(f"Kept for {retention_days} days. Register entry: {code}.")
    return "\n\n".join(lines)


def seed_register() -> None:
    """Create the demo city's purposes and notices; idempotent."""

    for (code, ten, tzh, den, dzh, dpv, basis, ref, cats, depts, recips, days, trigger,
         action) in PURPOSES:
        departments = list(Department.objects.all()) if depts == "*" else []
        purpose = purpose_upsert(
            code=code,
            title_en=ten,
            title_zh_hans=tzh,
            description_en=den,
            description_zh_hans=dzh,
            dpv_purpose=dpv,
            legal_basis=basis,
            legal_reference=ref,
            data_categories=cats,
            recipients=recips,
            retention_days=days,
            retention_trigger=trigger,
            retention_end_action=action,
            requires_consent=basis == "consent",
            is_active=True,
            departments=departments,
        )
        if not Notice.objects.filter(purpose=purpose).exists():
            notice_publish(
                purpose=purpose,
                texts={
                    "en": (ten, notice_text(den, code, basis, days)),
                    "zh-hans": (tzh, dzh + f"\n\n保存 {days} 天。登记条目：{code}。"),
                },
            )
