//! irsa-mutate (see README for its role in the workspace).
