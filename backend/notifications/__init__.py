"""The notification outbox: messages for residents, kept until their channel delivered them."""
