"""Input channels: WeChat Official Account, the web chat page and the hall-guide console.

Registered in credentials.yml by their dotted class path; Rasa mounts each blueprint under
/webhooks/<url_prefix>, except that an absolute prefix ("/webchat", "/guide") escapes it.
"""
