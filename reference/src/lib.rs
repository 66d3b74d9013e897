//! The reference engine (issue 3).
