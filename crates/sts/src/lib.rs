//! irsa-sts (see README for its role in the workspace).
