//! irsa-jose (see README for its role in the workspace).
