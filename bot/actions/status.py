"""Telling residents where their applications stand, in plain words."""

from __future__ import annotations

import datetime
from typing import Any
from zoneinfo import ZoneInfo

from rasa_sdk import Action, Tracker
from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.store_client import (
    ApplicationStatus,
    ApplicationSummary,
    StoreRejected,
    StoreUnavailable,
    shared_client,
)

LOCAL_TIME = ZoneInfo("Asia/Shanghai")
NEXT_STEP = {
    "submitted": "已经收到，等乡镇预审。",
    "township_review": "乡镇正在预审，工作人员可能会打电话核实，请保持电话畅通。",
    "district_review": "区里正在审核，请耐心等一等。",
    "approved": "已经批准，正在办后续手续。",
    "ready_for_pickup": "可以领取了，请带申请人身份证到乡镇便民服务中心领取。",
    "collected": "已经领取，办结了。",
    "returned": "需要补充材料，请带上材料到乡镇便民服务中心。",
    "rejected": "没有通过。有疑问可以回复「转人工」，或拨打12345。",
    "withdrawn": "申请已经撤回。",
}
NOT_FOUND = "没有查到。请核对办件编号，以及身份证后4位或手机号。"
STORE_DOWN = "办件系统现在连不上，暂时查不了，请过一会儿再问我。"
TOO_MANY_TRIES = "验证信息错的次数太多了，请{minutes}分钟后再试，或带身份证到乡镇便民服务中心查询。"


def local_day(timestamp: str) -> str:
    moment = datetime.datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    local = moment.astimezone(LOCAL_TIME)
    return f"{local.month}月{local.day}日"


def describe(application: ApplicationSummary | ApplicationStatus, note: str | None = None) -> str:
    """One application's stage, when it last changed, and what to do next."""
    step = NEXT_STEP.get(application.status, "")
    reason = f"（{note}）" if note and application.status in ("returned", "rejected") else ""
    return (
        f"{application.service_label}（{application.tracking_number}）："
        f"{application.status_label}{reason}，{local_day(application.status_changed_at)}更新。{step}"
    )


def newly_given_tracking_number(tracker: Tracker) -> bool:
    return any(e.get("entity") == "tracking_number" for e in tracker.latest_message["entities"])


class ActionCheckStatus(Action):
    """Own applications of this conversation without proof; any other one with proof."""

    def name(self) -> str:
        return "action_check_status"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        number, proof = tracker.get_slot("tracking_number"), tracker.get_slot("status_proof")
        try:
            if number and proof:
                return await self.look_up(dispatcher, tracker, number, proof)
            if not newly_given_tracking_number(tracker):
                own = await shared_client().list_for_conversation(tracker.sender_id)
                if own:
                    lines = [describe(application) for application in own]
                    dispatcher.utter_message(text="您在这里办的事：\n" + "\n".join(lines))
                    return []
        except StoreUnavailable:
            dispatcher.utter_message(text=STORE_DOWN)
            return [SlotSet("status_proof", None)]
        return [FollowupAction("status_form")]

    async def look_up(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, number: str, proof: str
    ) -> list[dict[str, Any]]:
        # The proof is personal data: used once, then forgotten.
        forget_proof = [SlotSet("status_proof", None)]
        try:
            found = await shared_client().lookup(number, proof, tracker.sender_id)
        except StoreRejected as error:
            if error.code != "too_many_attempts":
                raise
            minutes = max(1, round(float(error.details.get("retry_after", 60)) / 60))
            dispatcher.utter_message(text=TOO_MANY_TRIES.format(minutes=minutes))
            return forget_proof
        if found is None:
            dispatcher.utter_message(text=NOT_FOUND)
            return [*forget_proof, SlotSet("tracking_number", None)]
        note = found.history[-1].note if found.history else None
        dispatcher.utter_message(text=describe(found, note))
        return forget_proof
