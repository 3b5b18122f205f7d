//! `tempi demo`: a simulated estate of loopback services and a load generator around an
//! embedded engine.
