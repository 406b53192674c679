//! The IAM subset IRSA needs: OIDC providers, roles, inline and managed policies,
//! and the policy simulator.

use crate::auth::CallerContext;
use crate::protocol::{AwsError, IAM_VERSION, QueryRequest};
use crate::server::AppState;

/// Handles one IAM action (the caller is already authenticated and authorized).
/// Returns the inner XML of `<{Action}Result>`.
pub fn handle(
    state: &AppState,
    request: &QueryRequest,
    ctx: &CallerContext,
) -> Result<String, AwsError> {
    let _ = (state, ctx);
    Err(AwsError::invalid_action(&request.action, IAM_VERSION))
}
