//! close tests.
