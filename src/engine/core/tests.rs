//! Scenario tests of the core on a manual clock.
