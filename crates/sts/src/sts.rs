//! sts (in progress).
