"""Widgets of the chat, one family per module; they post messages and the screen acts."""
