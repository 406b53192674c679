//! irsa-issuer (see README for its role in the workspace).
