//! TCP (RFC 9293): the per-connection state machine and its parts.
