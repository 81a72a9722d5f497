//! Moving IOC services between nodes: off a node being drained, and across the nodes
//! that may run them (rebalance). Swarm places every task; iocdock only makes it
//! place one again (drain, a forced update) and watches where it lands.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use bollard::models::{Node, Service, Task, TaskState};
use bollard::query_parameters::{ListTasksOptions, UpdateServiceOptions};

use super::constraint::{Unplaceable, fits, hostname, placeable, takes_tasks};
use super::{Availability, NodeError, all, find, set_availability};
use crate::compose::translate::NAMESPACE_LABEL;
use crate::swarm::deploy::SERVICE_TYPE_LABEL;
use crate::swarm::engine::{Engine, SwarmError};

/// How often the tasks are read while waiting for them to move.
const POLL: Duration = Duration::from_secs(1);

/// An IOC that now runs on another node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Move {
    pub(crate) ioc: String,
    pub(crate) from: String,
    pub(crate) to: String,
}

/// An IOC that did not move.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Stuck {
    /// Its placement constraints fit no other node that takes tasks.
    Pinned {
        ioc: String,
        node: String,
        why: Unplaceable,
    },
    /// It did not run elsewhere in the time given; `state` says what its task does.
    NotMoved {
        ioc: String,
        node: String,
        state: String,
    },
}

/// A deployed IOC service of the stack.
struct IocService {
    ioc: String,
    service: Service,
}

impl IocService {
    fn id(&self) -> &str {
        self.service.id.as_deref().unwrap_or("")
    }

    fn constraints(&self) -> Vec<String> {
        self.service
            .spec
            .as_ref()
            .and_then(|s| s.task_template.as_ref())
            .and_then(|t| t.placement.as_ref())
            .and_then(|p| p.constraints.clone())
            .unwrap_or_default()
    }
}

/// The IOC services of stack `prefix` (labelled `service-type: ioc`), by name.
fn ioc_services(engine: &Engine, prefix: &str) -> Result<Vec<IocService>, SwarmError> {
    let name_prefix = format!("{prefix}_srv-");
    let listed = engine
        .run(engine.raw().services_named(engine.docker(), &name_prefix))?
        .map_err(|e| SwarmError::api("service list", e))?;
    let mut services: Vec<IocService> = listed
        .into_iter()
        .filter_map(|service| {
            let spec = service.spec.as_ref()?;
            let ours = spec.labels.as_ref()?.get(NAMESPACE_LABEL)? == prefix;
            let ioc = spec
                .task_template
                .as_ref()?
                .container_spec
                .as_ref()?
                .labels
                .as_ref()?
                .get(SERVICE_TYPE_LABEL)?
                == "ioc";
            let name = spec
                .name
                .as_deref()?
                .strip_prefix(&name_prefix)?
                .to_string();
            (ours && ioc).then_some(IocService { ioc: name, service })
        })
        .collect();
    services.sort_by(|a, b| a.ioc.cmp(&b.ioc));
    Ok(services)
}

/// The tasks swarm wants running that match `filters`.
fn running_tasks(
    engine: &Engine,
    mut filters: HashMap<String, Vec<String>>,
) -> Result<Vec<Task>, SwarmError> {
    filters.insert("desired-state".to_string(), vec!["running".to_string()]);
    engine.request(
        "task list",
        engine.docker().list_tasks(Some(ListTasksOptions {
            filters: Some(filters),
        })),
    )
}

fn task_state(task: &Task) -> Option<TaskState> {
    task.status.as_ref().and_then(|s| s.state)
}

/// What a task does, for an IOC that did not move: `pending: "no suitable node ..."`,
/// `starting on node2`.
fn describe(task: Option<&Task>, hosts: &HashMap<String, String>) -> String {
    let Some(task) = task else {
        return "no task".to_string();
    };
    let state = task_state(task).map_or_else(|| "unknown".to_string(), |s| s.to_string());
    let on = task
        .node_id
        .as_ref()
        .map(|id| format!(" on {}", hosts.get(id).unwrap_or(id)))
        .unwrap_or_default();
    let error = task
        .status
        .as_ref()
        .and_then(|s| s.err.clone().or_else(|| s.message.clone()))
        .filter(|e| !e.is_empty())
        .map(|e| format!(": \"{e}\""))
        .unwrap_or_default();
    format!("{state}{on}{error}")
}

fn host_names(nodes: &[Node]) -> HashMap<String, String> {
    nodes
        .iter()
        .filter_map(|n| Some((n.id.clone()?, hostname(n).to_string())))
        .collect()
}

/// What `--drain-node` did.
#[derive(Debug, Default)]
pub(crate) struct DrainReport {
    /// The drained node's hostname.
    pub(crate) node: String,
    pub(crate) moved: Vec<Move>,
    pub(crate) stuck: Vec<Stuck>,
    /// Without waiting: the IOCs that swarm is moving off the node (those it can).
    pub(crate) leaving: Vec<String>,
}

/// The hostname of node `name` and the IOCs of stack `prefix` that run on it (what a
/// drain would move).
pub(crate) fn iocs_on(
    engine: &Engine,
    prefix: &str,
    name: &str,
) -> Result<(String, Vec<String>), NodeError> {
    let nodes = all(engine)?;
    let node = find(&nodes, name)?;
    let node_id = node.id.clone().unwrap_or_default();
    let services = ioc_services(engine, prefix)?;
    let on_node = running_tasks(engine, HashMap::from([("node".to_string(), vec![node_id])]))?;
    let iocs = services
        .iter()
        .filter(|s| {
            on_node
                .iter()
                .any(|t| t.service_id.as_deref() == Some(s.id()))
        })
        .map(|s| s.ioc.clone())
        .collect();
    Ok((hostname(node).to_string(), iocs))
}

/// Drains node `name` (it takes no task any more, swarm moves its tasks away) and,
/// with `wait`, waits up to that long until the IOC services that ran there run on
/// another node. IOCs whose constraints fit no other node are reported at once, also
/// without waiting.
pub(crate) fn drain(
    engine: &Engine,
    prefix: &str,
    name: &str,
    wait: Option<Duration>,
) -> Result<DrainReport, NodeError> {
    let nodes = all(engine)?;
    let node = find(&nodes, name)?;
    let node_id = node.id.clone().unwrap_or_default();
    let host = hostname(node).to_string();
    let hosts = host_names(&nodes);
    let services = ioc_services(engine, prefix)?;
    let on_node = running_tasks(
        engine,
        HashMap::from([("node".to_string(), vec![node_id.clone()])]),
    )?;
    let leaving: Vec<&IocService> = services
        .iter()
        .filter(|s| {
            on_node
                .iter()
                .any(|t| t.service_id.as_deref() == Some(s.id()))
        })
        .collect();
    set_availability(engine, &node_id, Availability::Drain)?;
    let mut report = DrainReport {
        node: host.clone(),
        ..Default::default()
    };
    let others: Vec<&Node> = nodes
        .iter()
        .filter(|n| n.id.as_deref() != Some(node_id.as_str()))
        .collect();
    let mut waiting: Vec<&IocService> = Vec::new();
    for service in leaving {
        match placeable(&service.constraints(), others.iter().copied()) {
            Ok(()) => waiting.push(service),
            Err(why) => report.stuck.push(Stuck::Pinned {
                ioc: service.ioc.clone(),
                node: host.clone(),
                why,
            }),
        }
    }
    let Some(wait) = wait else {
        report.leaving = waiting.iter().map(|s| s.ioc.clone()).collect();
        return Ok(report);
    };
    let deadline = Instant::now() + wait;
    let mut last: Vec<Task> = Vec::new();
    while !waiting.is_empty() {
        // Each look has the engine's usual limits; the wait as a whole has its own.
        engine.renew();
        let ids: Vec<String> = waiting.iter().map(|s| s.id().to_string()).collect();
        last = running_tasks(engine, HashMap::from([("service".to_string(), ids)]))?;
        waiting.retain(|service| {
            let elsewhere = last.iter().find(|t| {
                t.service_id.as_deref() == Some(service.id())
                    && t.node_id.as_deref().is_some_and(|n| n != node_id)
                    && task_state(t) == Some(TaskState::RUNNING)
            });
            match elsewhere {
                Some(task) => {
                    let to = task.node_id.clone().unwrap_or_default();
                    report.moved.push(Move {
                        ioc: service.ioc.clone(),
                        from: host.clone(),
                        to: hosts.get(&to).cloned().unwrap_or(to),
                    });
                    false
                }
                None => true,
            }
        });
        if waiting.is_empty() || Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(POLL);
    }
    for service in waiting {
        let task = last
            .iter()
            .find(|t| t.service_id.as_deref() == Some(service.id()));
        report.stuck.push(Stuck::NotMoved {
            ioc: service.ioc.clone(),
            node: host.clone(),
            state: describe(task, &hosts),
        });
    }
    report.moved.sort_by(|a, b| a.ioc.cmp(&b.ioc));
    Ok(report)
}

/// What `--rebalance` did.
#[derive(Debug, Default)]
pub(crate) struct RebalanceReport {
    pub(crate) moved: Vec<Move>,
    /// IOCs swarm did not run again in time after their forced update.
    pub(crate) stuck: Vec<Stuck>,
    /// IOC services running per node that may run IOCs, afterwards.
    pub(crate) load: BTreeMap<String, usize>,
}

/// Where each IOC service runs now, on the nodes that may run IOCs: (node id →
/// indexes of its services).
struct Load {
    /// Nodes that take tasks and fit at least one IOC service, with their services.
    by_node: BTreeMap<String, Vec<usize>>,
}

impl Load {
    fn count(&self, node: &str) -> usize {
        self.by_node.get(node).map_or(0, Vec::len)
    }
}

/// Which services to move next: up to `batch` of the most loaded node, those whose
/// constraints fit a node that carries at least two fewer; none when the loads differ
/// by at most one. Never more than half the difference, so a batch cannot overshoot.
fn next_batch(
    load: &Load,
    constraints: &[Vec<String>],
    nodes: &HashMap<String, &Node>,
    batch: usize,
) -> Vec<usize> {
    let Some((most_node, most)) = load
        .by_node
        .iter()
        .map(|(n, s)| (n, s.len()))
        .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(a.0)))
    else {
        return Vec::new();
    };
    let least = load.by_node.values().map(Vec::len).min().unwrap_or(most);
    if most <= least + 1 {
        return Vec::new();
    }
    let lighter: Vec<&Node> = load
        .by_node
        .keys()
        .filter(|n| load.count(n) + 2 <= most)
        .filter_map(|n| nodes.get(n).copied())
        .collect();
    let limit = batch.min((most - least) / 2).max(1);
    load.by_node[most_node]
        .iter()
        .copied()
        .filter(|&i| lighter.iter().any(|n| fits(&constraints[i], n)))
        .take(limit)
        .collect()
}

/// Asks swarm to place the service's task again: the same spec with `ForceUpdate`
/// one higher, as `docker service update --force` sends it. Returns the new value.
fn force_update(engine: &Engine, prefix: &str, ioc: &str) -> Result<u64, SwarmError> {
    let name = format!("{prefix}_srv-{ioc}");
    for _ in 0..super::ATTEMPTS {
        let service = engine
            .run(engine.raw().service(engine.docker(), &name))?
            .map_err(|e| SwarmError::api(format!("inspect of service {name}"), e))?
            .ok_or_else(|| SwarmError::Api {
                action: format!("inspect of service {name}"),
                detail: "the service is gone".to_string(),
            })?;
        let mut spec = service.spec.unwrap_or_default();
        let task = spec.task_template.get_or_insert_with(Default::default);
        let next = task.force_update.unwrap_or(0).wrapping_add(1);
        task.force_update = Some(next);
        let version = service.version.and_then(|v| v.index).unwrap_or(0);
        let options = UpdateServiceOptions {
            version: i32::try_from(version).unwrap_or(i32::MAX),
            ..Default::default()
        };
        match engine.run(engine.docker().update_service(&name, spec, options, None))? {
            Ok(_) => return Ok(next),
            Err(bollard::errors::Error::DockerResponseServerError { message, .. })
                if message.contains("update out of sequence") =>
            {
                continue;
            }
            Err(e) => return Err(SwarmError::api(format!("update of service {name}"), e)),
        }
    }
    Err(SwarmError::Api {
        action: format!("update of service {name}"),
        detail: "update out of sequence, again and again".to_string(),
    })
}

/// Moves IOC services, `batch` at a time, from the most loaded node that may run
/// IOCs to the least loaded ones, until their counts differ by at most one or swarm
/// places them back where they were. Each batch waits up to `wait` for its services
/// to run again; `moved` hears of each move as it happens.
pub(crate) fn rebalance(
    engine: &Engine,
    prefix: &str,
    batch: usize,
    wait: Duration,
    moved: &dyn Fn(&Move),
) -> Result<RebalanceReport, NodeError> {
    let mut report = RebalanceReport::default();
    let mut rounds = 0;
    loop {
        engine.renew();
        let nodes = all(engine)?;
        let hosts = host_names(&nodes);
        let services = ioc_services(engine, prefix)?;
        let constraints: Vec<Vec<String>> = services.iter().map(IocService::constraints).collect();
        let by_id: HashMap<String, &Node> = nodes
            .iter()
            .filter(|n| takes_tasks(n))
            .filter(|n| constraints.iter().any(|c| fits(c, n)))
            .filter_map(|n| Some((n.id.clone()?, n)))
            .collect();
        let ids: Vec<String> = services.iter().map(|s| s.id().to_string()).collect();
        let tasks = if ids.is_empty() {
            Vec::new()
        } else {
            running_tasks(engine, HashMap::from([("service".to_string(), ids)]))?
        };
        let mut load = Load {
            by_node: by_id.keys().map(|id| (id.clone(), Vec::new())).collect(),
        };
        for (i, service) in services.iter().enumerate() {
            let on = tasks.iter().find(|t| {
                t.service_id.as_deref() == Some(service.id())
                    && task_state(t) == Some(TaskState::RUNNING)
            });
            if let Some(list) = on
                .and_then(|t| t.node_id.as_ref())
                .and_then(|n| load.by_node.get_mut(n))
            {
                list.push(i);
            }
        }
        report.load = load
            .by_node
            .iter()
            .map(|(id, s)| {
                (
                    hosts.get(id).cloned().unwrap_or_else(|| id.clone()),
                    s.len(),
                )
            })
            .collect();
        rounds += 1;
        let chosen = next_batch(&load, &constraints, &by_id, batch);
        if chosen.is_empty() || rounds > services.len() {
            return Ok(report);
        }
        let mut forced = Vec::new();
        for &i in &chosen {
            let service = &services[i];
            let from = load
                .by_node
                .iter()
                .find(|(_, s)| s.contains(&i))
                .map(|(n, _)| n.clone())
                .unwrap_or_default();
            let generation = force_update(engine, prefix, &service.ioc)?;
            forced.push((service, from, generation));
        }
        let deadline = Instant::now() + wait;
        let mut progress = false;
        let mut last: Vec<Task> = Vec::new();
        while !forced.is_empty() {
            std::thread::sleep(POLL);
            engine.renew();
            let ids: Vec<String> = forced.iter().map(|(s, _, _)| s.id().to_string()).collect();
            last = running_tasks(engine, HashMap::from([("service".to_string(), ids)]))?;
            forced.retain(|(service, from, generation)| {
                let placed = last.iter().find(|t| {
                    t.service_id.as_deref() == Some(service.id())
                        && task_state(t) == Some(TaskState::RUNNING)
                        && t.spec.as_ref().and_then(|s| s.force_update) == Some(*generation)
                });
                let Some(to) = placed.and_then(|t| t.node_id.clone()) else {
                    return true;
                };
                if to != *from {
                    progress = true;
                    let m = Move {
                        ioc: service.ioc.clone(),
                        from: hosts.get(from).cloned().unwrap_or_else(|| from.clone()),
                        to: hosts.get(&to).cloned().unwrap_or(to),
                    };
                    moved(&m);
                    report.moved.push(m);
                }
                false
            });
            if Instant::now() >= deadline {
                break;
            }
        }
        for (service, from, _) in forced {
            let task = last
                .iter()
                .find(|t| t.service_id.as_deref() == Some(service.id()));
            report.stuck.push(Stuck::NotMoved {
                ioc: service.ioc.clone(),
                node: hosts.get(&from).cloned().unwrap_or(from),
                state: describe(task, &hosts),
            });
        }
        if !progress || !report.stuck.is_empty() {
            // Swarm put them back, or they do not run: going on would only restart
            // IOCs for nothing. Count once more for the report.
            engine.renew();
            let mut again = ioc_load(engine, prefix)?;
            std::mem::swap(&mut report.load, &mut again);
            return Ok(report);
        }
    }
}

/// IOC services running per node that may run IOCs (Ready, Active, fitting at least
/// one IOC's constraints), by hostname.
pub(crate) fn ioc_load(
    engine: &Engine,
    prefix: &str,
) -> Result<BTreeMap<String, usize>, NodeError> {
    let nodes = all(engine)?;
    let services = ioc_services(engine, prefix)?;
    let constraints: Vec<Vec<String>> = services.iter().map(IocService::constraints).collect();
    let mut load: BTreeMap<String, usize> = nodes
        .iter()
        .filter(|n| takes_tasks(n) && constraints.iter().any(|c| fits(c, n)))
        .map(|n| (hostname(n).to_string(), 0))
        .collect();
    let ids: Vec<String> = services.iter().map(|s| s.id().to_string()).collect();
    if ids.is_empty() {
        return Ok(load);
    }
    let hosts = host_names(&nodes);
    for task in running_tasks(engine, HashMap::from([("service".to_string(), ids)]))? {
        if task_state(&task) != Some(TaskState::RUNNING) {
            continue;
        }
        if let Some(count) = task
            .node_id
            .as_ref()
            .and_then(|n| hosts.get(n))
            .and_then(|h| load.get_mut(h))
        {
            *count += 1;
        }
    }
    Ok(load)
}

#[cfg(test)]
mod tests {
    use bollard::models::NodeSpecRoleEnum;

    use super::super::constraint::tests::node;
    use super::*;

    fn load(counts: &[(&str, &[usize])]) -> Load {
        Load {
            by_node: counts
                .iter()
                .map(|(n, s)| (n.to_string(), s.to_vec()))
                .collect(),
        }
    }

    #[test]
    fn a_batch_comes_from_the_most_loaded_node_and_never_overshoots() {
        let w1 = node("w1", "node1", NodeSpecRoleEnum::WORKER, &[("rack", "a")]);
        let w2 = node("w2", "node2", NodeSpecRoleEnum::WORKER, &[("rack", "b")]);
        let nodes: HashMap<String, &Node> =
            HashMap::from([("w1".to_string(), &w1), ("w2".to_string(), &w2)]);
        let anywhere = vec!["node.role==worker".to_string()];
        let pinned = vec!["node.labels.rack==a".to_string()];
        let constraints = vec![
            pinned.clone(),
            anywhere.clone(),
            anywhere.clone(),
            anywhere.clone(),
            anywhere.clone(),
        ];
        // 5 on node1, none on node2: the pinned one stays, two move (then 3 and 2).
        let five = load(&[("w1", &[0, 1, 2, 3, 4]), ("w2", &[])]);
        assert_eq!(next_batch(&five, &constraints, &nodes, 10), vec![1, 2]);
        assert_eq!(next_batch(&five, &constraints, &nodes, 1), vec![1]);
        // Balanced within one: nothing to do.
        let even = load(&[("w1", &[0, 1, 2]), ("w2", &[3, 4])]);
        assert!(next_batch(&even, &constraints, &nodes, 10).is_empty());
        // Only pinned ones on the loaded node: nothing can move.
        let stuck = load(&[("w1", &[0, 5, 6]), ("w2", &[])]);
        let all_pinned = vec![pinned.clone(); 7];
        assert!(next_batch(&stuck, &all_pinned, &nodes, 10).is_empty());
        // IOCs that fit only the loaded node stay there.
        let three = load(&[("w1", &[]), ("w2", &[1, 2, 3])]);
        let on_b = vec!["node.labels.rack==b".to_string()];
        let c = vec![pinned.clone(), on_b.clone(), on_b.clone(), anywhere.clone()];
        assert_eq!(next_batch(&three, &c, &nodes, 10), vec![3]);
        let c = vec![anywhere.clone(); 4];
        assert_eq!(next_batch(&three, &c, &nodes, 10), vec![1]);
    }
}
