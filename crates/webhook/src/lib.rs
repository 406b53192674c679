//! irsa-webhook (see README for its role in the workspace).
