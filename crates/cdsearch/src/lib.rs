//! Color depth search application (placeholder; see issue 3).
