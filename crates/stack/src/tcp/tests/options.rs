//! options tests.
