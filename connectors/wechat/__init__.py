"""WeChat Official Account channel; credentials.yml names `connectors.wechat.WeChatInput`."""

from connectors.wechat.channel import WeChatInput, WeChatOutput

__all__ = ["WeChatInput", "WeChatOutput"]
