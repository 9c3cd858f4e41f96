"""The login service: accounts, passwords, sessions, tokens, 2FA and the settings."""
