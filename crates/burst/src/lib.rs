//! Burst-parallel compute framework (placeholder; see issue 4).
