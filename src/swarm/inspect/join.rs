//! `docker swarm join-token`.

use std::fmt::Write as _;

use bollard::models::Swarm;

/// The join commands as `docker swarm join-token worker|manager` prints them.
pub(crate) fn join_commands(swarm: &Swarm, manager_addr: &str) -> String {
    let tokens = swarm.join_tokens.clone().unwrap_or_default();
    let mut out = String::new();
    for (role, token) in [("worker", tokens.worker), ("manager", tokens.manager)] {
        let _ = write!(
            out,
            "To add a {role} to this swarm, run the following command:\n\n    docker swarm join --token {} {manager_addr}\n\n",
            token.unwrap_or_default()
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_commands_like_docker() {
        let swarm = Swarm {
            join_tokens: Some(bollard::models::JoinTokens {
                worker: Some("W".to_string()),
                manager: Some("M".to_string()),
            }),
            ..Default::default()
        };
        assert_eq!(
            join_commands(&swarm, "10.0.0.1:2377"),
            "To add a worker to this swarm, run the following command:\n\n    docker swarm join --token W 10.0.0.1:2377\n\n\
             To add a manager to this swarm, run the following command:\n\n    docker swarm join --token M 10.0.0.1:2377\n\n"
        );
    }
}
