//! TODO: saga
