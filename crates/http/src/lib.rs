//! The HTTP/1.1 server (not written yet).
#![forbid(unsafe_code)]
