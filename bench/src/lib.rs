//! Criterion benches for boomerang live in `benches/`; this library is empty.
