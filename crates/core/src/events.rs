//! TODO: events
