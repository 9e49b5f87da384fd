"""Console training data as the status store freezes it into a run (Rasa's YAML)."""

from __future__ import annotations

EDITED_TOPIC = "faq/pension_enroll"
EDITED_TEXT = "年满16周岁、不在校、没参加职工养老保险的居民都可以参保，带身份证和户口本到户籍所在镇（街道）便民服务中心劳保窗口登记。"
NEW_EXAMPLES = (
    "我在外地打工刚回来 城乡养老保险咋个参保嘛",
    "屋头婆婆从来没买过养老保险 现在去哪登记",
)

CONSOLE_DATA = f"""version: "3.1"
nlu:
- intent: {EDITED_TOPIC}
  examples: |
    - {NEW_EXAMPLES[0]}
    - {NEW_EXAMPLES[1]}
responses:
  utter_{EDITED_TOPIC}:
  - text: {EDITED_TEXT}
    buttons:
    - title: 每年交多少
      payload: 城乡居民养老保险每年交好多钱
    - title: 多少岁能领
      payload: 养老金好久可以领
    metadata:
      title: 养老保险参保
      source: 国发〔2014〕8号
      reviewed: '2026-11-30'
"""

# Not YAML at all: Rasa refuses to read it.
BROKEN_CONSOLE_DATA = """version: "3.1"
nlu:
- intent: faq/pension_enroll
  examples: |
    - 城乡养老保险咋个参保
  - broken: [
"""
