//! The sans-IO IPv4/TCP core (not written yet).
#![forbid(unsafe_code)]
