"""What a notification says: one entry per thing that can happen to a request, per language
and per audience (the reporter, or a follower), chosen from the event itself (its type,
to-status, outcome and actor), never from the request's status at sending time.
"""

from __future__ import annotations

from typing import Any

from services.models import Event, Status

REPORTER = "reporter"
FOLLOWER = "follower"


def event_kind(event: Event) -> str:
    """The thing that happened, as a key of TEXTS ("" when residents are not told)."""
    data = event.data or {}
    if event.type == Event.Type.ROUTED:
        return "routed"
    if event.type == Event.Type.PUBLIC_REPLY:
        return "public_reply"
    if event.type == Event.Type.REOPENED:
        return "reopened"
    if event.type == Event.Type.MARKED_DUPLICATE:
        return "duplicate" if data.get("original") else ""
    if event.type == Event.Type.SLA_BREACHED:
        return "sla_breached"
    if event.type != Event.Type.STATUS_CHANGED:
        return ""
    to_status = event.to_status
    if to_status == Status.IN_PROGRESS:
        return "work_resumed" if event.from_status == Status.REOPENED else "work_started"
    if to_status == Status.RESOLVED:
        outcome = data.get("outcome") or ""
        return f"resolved_{outcome}" if f"resolved_{outcome}" in TEXTS["en"] else "resolved"
    if to_status == Status.CLOSED:
        if data.get("auto_closed"):
            return "closed_auto"
        if event.actor_role == "resident":
            return "closed_confirmed"
        return "closed"
    if to_status in (Status.REJECTED, Status.WITHDRAWN):
        return str(to_status)
    return ""


# Each entry: the subject (after "[reference] "), the headline for the reporter and for a
# follower, what the event's text is (a label, or None: not sent — residents' own words are
# never forwarded to other people), and the reporter's next step, if any.
TEXTS: dict[str, dict[str, dict[str, Any]]] = {
    "en": {
        "updated": {
            "subject": "News about your request",
            REPORTER: "There is news about your request.",
            FOLLOWER: "There is news about the request you follow.",
        },
        "routed": {
            "subject": "Sent to {department}",
            REPORTER: "Your request is now with {department}.",
            FOLLOWER: "The request you follow is now with {department}.",
            "text": {REPORTER: "Why this department:", FOLLOWER: None},
        },
        "work_started": {
            "subject": "{department} started work",
            REPORTER: "{department} has started working on your request.",
            FOLLOWER: "{department} has started working on the request you follow.",
        },
        "work_resumed": {
            "subject": "Work resumed after the reopening",
            REPORTER: "{department} is working on your reopened request again.",
            FOLLOWER: "{department} is working on the reopened request again.",
        },
        "public_reply": {
            "subject": "{department} replied",
            REPORTER: "{department} replied to your request.",
            FOLLOWER: "{department} replied on the request you follow.",
            "text": {REPORTER: "Their reply:", FOLLOWER: "Their reply:"},
        },
        "resolved_fixed": {
            "subject": "Fixed",
            REPORTER: "{department} says the problem you reported is fixed.",
            FOLLOWER: "{department} says the problem is fixed.",
            "text": {REPORTER: "Their note:", FOLLOWER: "Their note:"},
            "next": "Is it really fixed? Confirm it, or reopen the request within {days} days "
            "if it is not; otherwise it closes by itself.",
        },
        "resolved_could_not_fix": {
            "subject": "Could not be fixed",
            REPORTER: "{department} could not fix the problem you reported.",
            FOLLOWER: "{department} could not fix the problem.",
            "text": {REPORTER: "Why:", FOLLOWER: "Why:"},
            "next": "If you disagree, reopen the request within {days} days and say why.",
        },
        "resolved_not_city_responsibility": {
            "subject": "Not the city's responsibility",
            REPORTER: "{department} found that the problem you reported is not the city's "
            "responsibility.",
            FOLLOWER: "{department} found that the problem is not the city's responsibility.",
            "text": {REPORTER: "Who to ask instead:", FOLLOWER: "Who to ask instead:"},
            "next": "If you disagree, reopen the request within {days} days and say why.",
        },
        "resolved_no_action_needed": {
            "subject": "No action needed",
            REPORTER: "{department} found that no action is needed on your request.",
            FOLLOWER: "{department} found that no action is needed.",
            "text": {REPORTER: "Why:", FOLLOWER: "Why:"},
            "next": "If you disagree, reopen the request within {days} days and say why.",
        },
        "resolved_duplicate": {
            "subject": "Already reported",
            REPORTER: "{department} found that your problem was already reported.",
            FOLLOWER: "{department} found that the problem was already reported.",
            "text": {REPORTER: "Their note:", FOLLOWER: "Their note:"},
        },
        "resolved": {
            "subject": "Resolved",
            REPORTER: "{department} has resolved your request.",
            FOLLOWER: "{department} has resolved the request you follow.",
            "text": {REPORTER: "Their note:", FOLLOWER: "Their note:"},
            "next": "If it is not done, reopen the request within {days} days.",
        },
        "reopened": {
            "subject": "Reopened",
            REPORTER: "Your request was reopened.",
            FOLLOWER: "The person who reported it says the problem is not solved; the request "
            "is open again.",
        },
        "closed_confirmed": {
            "subject": "Closed: confirmed by the reporter",
            REPORTER: "You confirmed the resolution; your request is closed.",
            FOLLOWER: "The person who reported it confirmed the resolution; the request is "
            "closed.",
        },
        "closed_auto": {
            "subject": "Closed",
            REPORTER: "Your request was closed: it was resolved {days} days ago and not "
            "reopened.",
            FOLLOWER: "The request was closed: it was resolved {days} days ago and not reopened.",
        },
        "closed": {
            "subject": "Closed",
            REPORTER: "{department} closed your request.",
            FOLLOWER: "{department} closed the request you follow.",
        },
        "rejected": {
            "subject": "Not accepted",
            REPORTER: "{department} did not accept your request.",
            FOLLOWER: "{department} did not accept the request you follow.",
            "text": {REPORTER: "Reason:", FOLLOWER: "Reason:"},
        },
        "withdrawn": {
            "subject": "Withdrawn",
            REPORTER: "Your request was withdrawn.",
            FOLLOWER: "The person who reported it withdrew the request; nothing more will "
            "happen on it.",
        },
        "duplicate": {
            "subject": "Merged into {original}",
            REPORTER: "Your request reports the same problem as {original}, so it was closed; "
            "you now follow {original} and hear about its progress.",
            FOLLOWER: "The request you follow reports the same problem as {original}, so it "
            "was closed; you now follow {original}.",
        },
    },
    "zh-hans": {
        "updated": {
            "subject": "诉求有新进展",
            REPORTER: "您的诉求有新进展。",
            FOLLOWER: "您关注的诉求有新进展。",
        },
        "routed": {
            "subject": "已转交{department}",
            REPORTER: "您的诉求已转交{department}处理。",
            FOLLOWER: "您关注的诉求已转交{department}处理。",
            "text": {REPORTER: "转交原因：", FOLLOWER: None},
        },
        "work_started": {
            "subject": "{department}已开始处理",
            REPORTER: "{department}已开始处理您的诉求。",
            FOLLOWER: "{department}已开始处理您关注的诉求。",
        },
        "work_resumed": {
            "subject": "重新打开后已恢复处理",
            REPORTER: "{department}已重新处理您重新打开的诉求。",
            FOLLOWER: "{department}已重新处理这条重新打开的诉求。",
        },
        "public_reply": {
            "subject": "{department}已回复",
            REPORTER: "{department}回复了您的诉求。",
            FOLLOWER: "{department}回复了您关注的诉求。",
            "text": {REPORTER: "回复内容：", FOLLOWER: "回复内容："},
        },
        "resolved_fixed": {
            "subject": "已修复",
            REPORTER: "{department}表示您反映的问题已修复。",
            FOLLOWER: "{department}表示该问题已修复。",
            "text": {REPORTER: "处理说明：", FOLLOWER: "处理说明："},
            "next": "问题真的解决了吗？请确认；如未解决，请在 {days} 天内重新打开诉求，"
            "否则诉求将自动关闭。",
        },
        "resolved_could_not_fix": {
            "subject": "未能修复",
            REPORTER: "{department}未能修复您反映的问题。",
            FOLLOWER: "{department}未能修复该问题。",
            "text": {REPORTER: "原因：", FOLLOWER: "原因："},
            "next": "如有异议，请在 {days} 天内重新打开诉求并说明理由。",
        },
        "resolved_not_city_responsibility": {
            "subject": "不属于市政职责",
            REPORTER: "{department}认定您反映的问题不属于市政职责范围。",
            FOLLOWER: "{department}认定该问题不属于市政职责范围。",
            "text": {REPORTER: "可联系的单位：", FOLLOWER: "可联系的单位："},
            "next": "如有异议，请在 {days} 天内重新打开诉求并说明理由。",
        },
        "resolved_no_action_needed": {
            "subject": "无需处理",
            REPORTER: "{department}认定您的诉求无需采取行动。",
            FOLLOWER: "{department}认定该诉求无需采取行动。",
            "text": {REPORTER: "原因：", FOLLOWER: "原因："},
            "next": "如有异议，请在 {days} 天内重新打开诉求并说明理由。",
        },
        "resolved_duplicate": {
            "subject": "已有人反映",
            REPORTER: "{department}发现您反映的问题此前已有人反映。",
            FOLLOWER: "{department}发现该问题此前已有人反映。",
            "text": {REPORTER: "处理说明：", FOLLOWER: "处理说明："},
        },
        "resolved": {
            "subject": "已办结",
            REPORTER: "{department}已办结您的诉求。",
            FOLLOWER: "{department}已办结您关注的诉求。",
            "text": {REPORTER: "处理说明：", FOLLOWER: "处理说明："},
            "next": "如未办妥，请在 {days} 天内重新打开诉求。",
        },
        "reopened": {
            "subject": "已重新打开",
            REPORTER: "您的诉求已重新打开。",
            FOLLOWER: "反映人表示问题尚未解决，该诉求已重新打开。",
        },
        "closed_confirmed": {
            "subject": "已关闭：反映人已确认",
            REPORTER: "您已确认处理结果，诉求已关闭。",
            FOLLOWER: "反映人已确认处理结果，该诉求已关闭。",
        },
        "closed_auto": {
            "subject": "已关闭",
            REPORTER: "您的诉求已于办结 {days} 天后自动关闭（期间未重新打开）。",
            FOLLOWER: "该诉求已于办结 {days} 天后自动关闭（期间未重新打开）。",
        },
        "closed": {
            "subject": "已关闭",
            REPORTER: "{department}已关闭您的诉求。",
            FOLLOWER: "{department}已关闭您关注的诉求。",
        },
        "rejected": {
            "subject": "未予受理",
            REPORTER: "{department}未受理您的诉求。",
            FOLLOWER: "{department}未受理您关注的诉求。",
            "text": {REPORTER: "原因：", FOLLOWER: "原因："},
        },
        "withdrawn": {
            "subject": "已撤回",
            REPORTER: "您的诉求已撤回。",
            FOLLOWER: "反映人已撤回该诉求，此后不会再有处理。",
        },
        "duplicate": {
            "subject": "已并入 {original}",
            REPORTER: "您的诉求与 {original} 反映的是同一问题，已关闭；您现在关注 {original}，"
            "会收到它的进展。",
            FOLLOWER: "您关注的诉求与 {original} 反映的是同一问题，已关闭；您现在关注 "
            "{original}。",
        },
    },
}

# Why the recipient gets the e-mail, and the signature.
FOOTER = {
    "en": {
        REPORTER: "You receive this because you filed this request. Your data is used only to "
        "handle it; see the data-use register in the portal.",
        FOLLOWER: "You receive this because you follow this request; stop following it on its "
        "page. Your data is used only to tell you about it.",
        "signature": "CivicDesk, the Citizen Service Center of {city}",
        "department": "The city",
        "see": "See the whole history: {url}",
    },
    "zh-hans": {
        REPORTER: "您收到此邮件是因为您提交了该诉求。您的数据仅用于处理该诉求，详见门户中的"
        "数据使用登记册。",
        FOLLOWER: "您收到此邮件是因为您关注了该诉求；可在诉求页面取消关注。您的数据仅用于向您"
        "通报该诉求的进展。",
        "signature": "{city}市民服务中心（CivicDesk）",
        "department": "市政部门",
        "see": "查看完整记录：{url}",
    },
}
