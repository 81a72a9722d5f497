//! Raw service logs through the Engine API, the way `docker service logs --raw`
//! prints them: no task prefix, stdout and stderr kept apart. IOC services run with
//! a tty, for which the daemon only has raw logs at all.

use bollard::container::LogOutput;
use bollard::query_parameters::LogsOptions;
use futures_util::StreamExt;
use futures_util::stream::{self, BoxStream};

use crate::swarm::engine::{Engine, SwarmError};

/// Which stream of the service a piece of log belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LogStream {
    Out,
    Err,
}

/// What to read: the last `tail` lines (all when None), then new output while
/// `follow`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LogRequest {
    pub(crate) follow: bool,
    pub(crate) tail: Option<u64>,
}

/// Streams the logs of `services` (all at once, interleaved as they arrive, when
/// following several) and hands each piece to `sink` as soon as it arrives.
pub(crate) fn stream_logs(
    engine: &Engine,
    services: &[String],
    request: LogRequest,
    sink: &mut dyn FnMut(LogStream, &[u8]),
) -> Result<(), SwarmError> {
    let options = LogsOptions {
        follow: request.follow,
        stdout: true,
        stderr: true,
        tail: request
            .tail
            .map_or_else(|| "all".to_string(), |n| n.to_string()),
        ..Default::default()
    };
    let one =
        |name: &String| -> BoxStream<'_, (String, Result<LogOutput, bollard::errors::Error>)> {
            let name = name.clone();
            engine
                .docker()
                .service_logs(&name.clone(), Some(options.clone()))
                .map(move |item| (name.clone(), item))
                .boxed()
        };
    if request.follow {
        // Following never ends by itself: read every service at once, for as long as
        // the operator wants (each request's first answer still has its deadline).
        return engine.unbounded(async {
            let mut all = stream::select_all(services.iter().map(one));
            while let Some((name, item)) = all.next().await {
                deliver(&name, item, sink)?;
            }
            Ok(())
        });
    }
    // Logs read to their end may be long: no limit on the whole, but each piece must
    // come within the read deadline, so a hung engine cannot keep the command waiting.
    let piece = engine.piece_limit();
    engine.unbounded(async {
        for name in services {
            let mut logs = one(name);
            loop {
                match tokio::time::timeout(piece, logs.next()).await {
                    Ok(Some((name, item))) => deliver(&name, item, sink)?,
                    Ok(None) => break,
                    Err(_) => return Err(engine.piece_missing()),
                }
            }
        }
        Ok(())
    })
}

fn deliver(
    service: &str,
    item: Result<LogOutput, bollard::errors::Error>,
    sink: &mut dyn FnMut(LogStream, &[u8]),
) -> Result<(), SwarmError> {
    match item.map_err(|e| SwarmError::api(format!("logs of service {service}"), e))? {
        LogOutput::StdErr { message } => sink(LogStream::Err, &message),
        LogOutput::StdOut { message } | LogOutput::Console { message } => {
            sink(LogStream::Out, &message)
        }
        LogOutput::StdIn { .. } => {}
    }
    Ok(())
}
