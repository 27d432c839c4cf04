//! transmit tests.
