//! Restart, update and rollback policies (docker/cli `convert/service.go`).

use bollard::models::{
    ServiceSpecRollbackConfig, ServiceSpecUpdateConfig,
    ServiceSpecUpdateConfigFailureActionEnum as UpdateAction,
    ServiceSpecUpdateConfigOrderEnum as UpdateOrder, TaskSpecRestartPolicy,
};

use super::{Problem, at, duration};
use crate::compose::model::{Deploy, UpdateConfig};

pub(super) fn restart_policy(deploy: &Deploy) -> Result<Option<TaskSpecRestartPolicy>, Problem> {
    use bollard::models::TaskSpecRestartPolicyConditionEnum as Condition;
    let Some(policy) = &deploy.restart_policy else {
        return Ok(None);
    };
    let path = ".deploy.restart_policy";
    let condition = match policy.condition.as_deref() {
        None | Some("") => None,
        Some("none") => Some(Condition::NONE),
        Some("on-failure") => Some(Condition::ON_FAILURE),
        Some("any") => Some(Condition::ANY),
        Some(other) => {
            return Err(at(
                &format!("{path}.condition"),
                format!("unknown condition \"{other}\" (expected none, on-failure or any)"),
            ));
        }
    };
    Ok(Some(TaskSpecRestartPolicy {
        condition,
        delay: duration(policy.delay.as_ref(), &format!("{path}.delay"))?,
        max_attempts: policy
            .max_attempts
            .map(|n| i64::try_from(n).map_err(|_| at(&format!("{path}.max_attempts"), "too large")))
            .transpose()?,
        window: duration(policy.window.as_ref(), &format!("{path}.window"))?,
    }))
}

enum FailureAction {
    Continue,
    Pause,
    Rollback,
}

enum Order {
    StopFirst,
    StartFirst,
}

/// An update or rollback policy with docker's parallelism default of 1.
struct Policy {
    parallelism: Option<i64>,
    delay: Option<i64>,
    failure_action: Option<FailureAction>,
    monitor: Option<i64>,
    max_failure_ratio: Option<f64>,
    order: Option<Order>,
}

fn policy(config: Option<&UpdateConfig>, path: &str) -> Result<Option<Policy>, Problem> {
    let Some(config) = config else {
        return Ok(None);
    };
    let parallelism = i64::try_from(config.parallelism.unwrap_or(1))
        .map_err(|_| at(&format!("{path}.parallelism"), "too large"))?;
    let failure_action = match config.failure_action.as_deref() {
        None | Some("") => None,
        Some("continue") => Some(FailureAction::Continue),
        Some("pause") => Some(FailureAction::Pause),
        Some("rollback") => Some(FailureAction::Rollback),
        Some(other) => {
            return Err(at(
                &format!("{path}.failure_action"),
                format!("unknown action \"{other}\" (expected continue, pause or rollback)"),
            ));
        }
    };
    let order = match config.order.as_deref() {
        None | Some("") => None,
        Some("stop-first") => Some(Order::StopFirst),
        Some("start-first") => Some(Order::StartFirst),
        Some(other) => {
            return Err(at(
                &format!("{path}.order"),
                format!("unknown order \"{other}\" (expected stop-first or start-first)"),
            ));
        }
    };
    let nonzero = |d: Option<i64>| d.filter(|n| *n != 0);
    Ok(Some(Policy {
        parallelism: Some(parallelism),
        delay: nonzero(duration(config.delay.as_ref(), &format!("{path}.delay"))?),
        failure_action,
        monitor: nonzero(duration(
            config.monitor.as_ref(),
            &format!("{path}.monitor"),
        )?),
        // docker sends 0 when unset; the engine cannot tell 0 from absent.
        max_failure_ratio: config.max_failure_ratio.filter(|r| *r != 0.0),
        order,
    }))
}

/// `update_config:` with docker's defaults.
pub(super) fn update_config(
    config: Option<&UpdateConfig>,
) -> Result<Option<ServiceSpecUpdateConfig>, Problem> {
    let policy = policy(config, ".deploy.update_config")?;
    Ok(policy.map(|c| ServiceSpecUpdateConfig {
        parallelism: c.parallelism,
        delay: c.delay,
        failure_action: c.failure_action.map(|a| match a {
            FailureAction::Continue => UpdateAction::CONTINUE,
            FailureAction::Pause => UpdateAction::PAUSE,
            FailureAction::Rollback => UpdateAction::ROLLBACK,
        }),
        monitor: c.monitor,
        max_failure_ratio: c.max_failure_ratio,
        order: c.order.map(|o| match o {
            Order::StopFirst => UpdateOrder::STOP_FIRST,
            Order::StartFirst => UpdateOrder::START_FIRST,
        }),
    }))
}

pub(super) fn rollback_config(
    config: Option<&UpdateConfig>,
) -> Result<Option<ServiceSpecRollbackConfig>, Problem> {
    use bollard::models::ServiceSpecRollbackConfigFailureActionEnum as Action;
    use bollard::models::ServiceSpecRollbackConfigOrderEnum as RollbackOrder;
    let path = ".deploy.rollback_config";
    let Some(policy) = policy(config, path)? else {
        return Ok(None);
    };
    let failure_action = match policy.failure_action {
        None => None,
        Some(FailureAction::Continue) => Some(Action::CONTINUE),
        Some(FailureAction::Pause) => Some(Action::PAUSE),
        Some(FailureAction::Rollback) => {
            return Err(at(
                &format!("{path}.failure_action"),
                "a rollback cannot roll back (expected continue or pause)",
            ));
        }
    };
    Ok(Some(ServiceSpecRollbackConfig {
        parallelism: policy.parallelism,
        delay: policy.delay,
        failure_action,
        monitor: policy.monitor,
        max_failure_ratio: policy.max_failure_ratio,
        order: policy.order.map(|o| match o {
            Order::StopFirst => RollbackOrder::STOP_FIRST,
            Order::StartFirst => RollbackOrder::START_FIRST,
        }),
    }))
}
