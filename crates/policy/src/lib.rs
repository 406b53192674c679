//! irsa-policy (see README for its role in the workspace).
