//! Adapters for other Alibaba Cloud signing crates (feature-gated).
