"""Respond: decisions (bans) with expiry, policies, safety, the CrowdSec bouncer API, exports, notifications."""
