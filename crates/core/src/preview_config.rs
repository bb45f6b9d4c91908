//! TODO: preview_config
