//! The simulated switch.
