"""WeChat Official Account channel: credentials.yml names `connectors.wechat.channel.WeChatInput`.

Nothing is imported here, so the parts that need no Rasa (signatures, envelopes, XML)
load on their own.
"""
