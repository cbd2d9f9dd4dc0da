//! `klpcheck explore <SPEC> --addr 127.0.0.1:PORT`: stateright's Explorer
//! UI to walk the scenario's state space by hand. Actions show as the
//! kernel commands and happenings of `KlpModel::format_action`; states as
//! the model's fields. It serves until the process is stopped.
//!
//! The server is klpcheck's own (over tiny_http and stateright's on-demand
//! checker, with the UI files of stateright 0.31 built into the binary,
//! checker/ui/), because stateright's `serve` binds its own socket after
//! we probed it (a race), panics on I/O errors, serves `./ui/` from the
//! current directory when there is one, and answers any page that posts
//! to it. This one, as a local service should:
//! - serves on the listener it bound and printed;
//! - answers only requests whose `Host` is the address it listens on (no
//!   DNS rebinding) and whose `Origin`, if any, is that address;
//! - wants a per-run token: the printed URL carries `?token=...`, the
//!   answer sets it as a `SameSite=Strict` cookie, and every other request
//!   must carry that cookie (403 otherwise), so another page or local user
//!   cannot drive it;
//! - refuses URLs over [`MAX_URL`] (414) and never reads a body; a
//!   request announcing a body over [`MAX_BODY`] bytes is dropped
//!   unanswered (tiny_http would allocate the announced size to drain it);
//! - serves nothing from the disk.

use std::collections::VecDeque;
use std::hash::Hash;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::path::Path;

use klp_model::KlpModel;
use serde::Serialize;
use stateright::{Checker, Expectation, Model};
use tiny_http::{Header, Method, Request, Response, StatusCode};

use crate::load::load;
use crate::run::{usage_error, EXIT_OK, EXIT_USAGE};

/// The largest request body accepted (the UI sends none).
pub const MAX_BODY: u64 = 4096;
/// The longest URL accepted (a path of action indices).
pub const MAX_URL: usize = 16 * 1024;

const COOKIE: &str = "klpcheck_explorer";

pub fn explore(spec: &Path, addr: &str) -> i32 {
    let l = match load(spec) {
        Ok(l) => l,
        Err(e) => return usage_error(e),
    };
    let addrs: Vec<_> = match addr.to_socket_addrs() {
        Ok(a) => a.collect(),
        Err(e) => return usage_error(format!("--addr {addr}: {e}")),
    };
    let Some(&sock) = addrs.first() else {
        return usage_error(format!("--addr {addr}: no address"));
    };
    let listener = match TcpListener::bind(sock) {
        Ok(l) => l,
        Err(e) => {
            sayln!("klpcheck: --addr {addr}: cannot listen: {e}");
            return EXIT_USAGE;
        }
    };
    let local = listener.local_addr().unwrap_or(sock);
    let server = match tiny_http::Server::from_listener(listener, None) {
        Ok(s) => s,
        Err(e) => return usage_error(format!("--addr {addr}: {e}")),
    };
    let token = new_token();
    let model = KlpModel::new(l.scenario);
    sayln!(
        "klpcheck: Explorer for {} on http://{local}/?token={token} (stop with Ctrl-C)",
        klp_reports::escape::neutralise_workflow_commands(&model.sc.name)
    );
    let checker = model.checker().spawn_on_demand();
    serve(&server, &checker, local, &token);
    EXIT_OK
}

/// 128 bits from the OS (`/dev/urandom`), else from std's random hasher
/// keys, as hex.
fn new_token() -> String {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    let from_os = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .is_ok();
    if !from_os {
        use std::hash::{BuildHasher, Hasher};
        for chunk in bytes.chunks_mut(8) {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u128(
                std::time::SystemTime::now()
                    .elapsed()
                    .map_or(0, |d| d.as_nanos()),
            );
            chunk.copy_from_slice(&h.finish().to_le_bytes());
        }
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn header<'r>(rq: &'r Request, name: &'static str) -> Option<&'r str> {
    rq.headers()
        .iter()
        .find(|h| h.field.equiv(name))
        .map(|h| h.value.as_str())
}

/// The names the browser may use for `local` in `Host`.
fn allowed_hosts(local: SocketAddr) -> Vec<String> {
    let port = local.port();
    let mut v = vec![local.to_string()];
    if local.ip().is_loopback() {
        v.push(format!("localhost:{port}"));
        v.push(format!("127.0.0.1:{port}"));
        v.push(format!("[::1]:{port}"));
    }
    v
}

/// Why a request is refused, if it is.
fn refuse(rq: &Request, local: SocketAddr, token: &str) -> Option<(u16, &'static str)> {
    if rq.url().len() > MAX_URL {
        return Some((414, "URL too long"));
    }
    let body = header(rq, "Content-Length").map(|v| v.trim().parse::<u64>());
    match body {
        Some(Ok(n)) if n > MAX_BODY => return Some((413, "request body too large")),
        Some(Err(_)) => return Some((400, "bad Content-Length")),
        _ => {}
    }
    if header(rq, "Transfer-Encoding").is_some() {
        return Some((413, "request bodies are not accepted"));
    }
    let hosts = allowed_hosts(local);
    match header(rq, "Host") {
        Some(h) if hosts.iter().any(|a| a.eq_ignore_ascii_case(h.trim())) => {}
        _ => return Some((403, "wrong Host")),
    }
    if let Some(origin) = header(rq, "Origin") {
        let ok = hosts
            .iter()
            .any(|a| origin.trim().eq_ignore_ascii_case(&format!("http://{a}")));
        if !ok {
            return Some((403, "wrong Origin"));
        }
    }
    let query_token = rq
        .url()
        .split_once('?')
        .and_then(|(_, q)| q.split('&').find_map(|kv| kv.strip_prefix("token=")));
    let cookie_token = header(rq, "Cookie").and_then(|c| {
        c.split(';').find_map(|kv| {
            kv.trim()
                .strip_prefix(&format!("{COOKIE}="))
                .map(str::to_string)
        })
    });
    let given = query_token
        .map(str::to_string)
        .or(cookie_token)
        .unwrap_or_default();
    if !constant_time_eq(given.as_bytes(), token.as_bytes()) {
        return Some((403, "missing or wrong token: open the URL klpcheck printed"));
    }
    None
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

fn serve<C: Checker<KlpModel>>(
    server: &tiny_http::Server,
    checker: &C,
    local: SocketAddr,
    token: &str,
) {
    loop {
        let rq = match server.recv() {
            Ok(rq) => rq,
            Err(_) => continue,
        };
        if let Some((code, why)) = refuse(&rq, local, token) {
            if code == 413 {
                // tiny_http drains an unread body when the request is
                // dropped, with one allocation of the size the client
                // claimed (`Content-Length: 9223372036854775807` aborts
                // the process). So such a request is never dropped: it is
                // leaked unanswered, which costs its connection, not us.
                std::mem::forget(rq);
            } else {
                let _ = rq.respond(Response::from_string(why).with_status_code(StatusCode(code)));
            }
            continue;
        }
        let path = rq.url().split('?').next().unwrap_or("").to_string();
        let json = |v: Vec<u8>| {
            Response::from_data(v).with_header(
                Header::from_bytes("Content-Type", "application/json").expect("a valid header"),
            )
        };
        let response = match (rq.method(), path.as_str()) {
            (Method::Get, "/") => ui(include_bytes!("../ui/index.htm"), "text/html").with_header(
                Header::from_bytes(
                    "Set-Cookie",
                    format!("{COOKIE}={token}; SameSite=Strict; HttpOnly; Path=/"),
                )
                .expect("a valid header"),
            ),
            (Method::Get, "/app.css") => ui(include_bytes!("../ui/app.css"), "text/css"),
            (Method::Get, "/app.js") => ui(include_bytes!("../ui/app.js"), "text/javascript"),
            (Method::Get, "/knockout-3.5.0.js") => {
                ui(include_bytes!("../ui/knockout-3.5.0.js"), "text/javascript")
            }
            (Method::Get, "/.status") => {
                json(serde_json::to_vec(&status(checker)).unwrap_or_default())
            }
            (Method::Post, "/.runtocompletion") => {
                checker.run_to_completion();
                Response::from_data(Vec::new())
            }
            (Method::Get, p) if p.starts_with("/.states") => {
                match states(checker, &p["/.states".len()..]) {
                    Ok(v) => json(serde_json::to_vec(&v).unwrap_or_default()),
                    Err(e) => Response::from_string(e).with_status_code(StatusCode(404)),
                }
            }
            _ => Response::from_string("not found").with_status_code(StatusCode(404)),
        };
        let _ = rq.respond(response);
    }
}

fn ui(bytes: &'static [u8], kind: &str) -> Response<std::io::Cursor<Vec<u8>>> {
    Response::from_data(bytes.to_vec())
        .with_header(Header::from_bytes("Content-Type", kind).expect("a valid header"))
}

type PropertyView = (Expectation, String, Option<String>);

#[derive(Serialize)]
struct StatusView {
    done: bool,
    model: String,
    state_count: usize,
    unique_state_count: usize,
    max_depth: usize,
    properties: Vec<PropertyView>,
    recent_path: Option<String>,
}

#[derive(Serialize)]
struct StateView {
    #[serde(skip_serializing_if = "Option::is_none")]
    action: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    outcome: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fingerprint: Option<String>,
    properties: Vec<PropertyView>,
    #[serde(rename = "actionIndex")]
    action_index: usize,
}

fn properties<C: Checker<KlpModel>>(checker: &C) -> Vec<PropertyView> {
    let model = checker.model();
    model
        .properties()
        .into_iter()
        .map(|p| {
            let found = checker.discovery(p.name).map(|path| path.encode(model));
            (p.expectation, p.name.to_string(), found)
        })
        .collect()
}

fn status<C: Checker<KlpModel>>(checker: &C) -> StatusView {
    StatusView {
        done: checker.is_done(),
        model: "KlpModel".to_string(),
        state_count: checker.state_count(),
        unique_state_count: checker.unique_state_count(),
        max_depth: checker.max_depth(),
        properties: properties(checker),
        recent_path: None,
    }
}

fn fingerprint<S: Hash>(s: &S) -> String {
    crate::engine::Fingerprinter::default()
        .fingerprint(s)
        .to_string()
}

/// A state as the Explorer shows it ("Complete State"): in kernel terms,
/// one fact per line (klp_patches, func_stacks, each patch and task, the
/// shadow variables and system modifications), not a Rust Debug dump.
fn view(model: &KlpModel, s: &klp_model::State) -> (Option<String>, Option<String>) {
    (
        Some(klp_model::describe::state_summary(&model.sc, s)),
        Some(fingerprint(s)),
    )
}

/// `/.states/i/j/k`: the states after the initial state `i` and actions
/// `j`, `k` (each an index into the actions offered), as stateright's
/// Explorer answers it.
fn states<C: Checker<KlpModel>>(checker: &C, path: &str) -> Result<Vec<StateView>, String> {
    let model = checker.model();
    let trimmed = path.trim_end_matches('/');
    let mut indices = VecDeque::new();
    for part in trimmed.split('/').skip(1) {
        indices.push_back(
            part.parse::<usize>()
                .map_err(|_| format!("Unable to parse action indices {trimmed}"))?,
        );
    }
    let props = properties(checker);
    let inits = model.init_states();
    let Some(first) = indices.pop_front() else {
        return Ok(inits
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let (state, fingerprint) = view(model, s);
                StateView {
                    action: None,
                    outcome: None,
                    state,
                    fingerprint,
                    properties: props.clone(),
                    action_index: i,
                }
            })
            .collect());
    };
    let missing = || format!("Unable to find state following action indices {trimmed}");
    let mut state = inits.get(first).cloned().ok_or_else(missing)?;
    for i in indices {
        let mut actions = Vec::new();
        model.actions(&state, &mut actions);
        let a = actions.into_iter().nth(i).ok_or_else(missing)?;
        state = model.next_state(&state, a).ok_or_else(missing)?;
    }
    let mut actions = Vec::new();
    model.actions(&state, &mut actions);
    Ok(actions
        .into_iter()
        .enumerate()
        .map(|(i, a)| {
            let outcome = model.format_step(&state, a.clone());
            let next = model.next_state(&state, a.clone());
            let (st, fp) = match &next {
                Some(n) => view(model, n),
                None => (None, None),
            };
            StateView {
                action: Some(model.format_action(&a)),
                outcome: next.as_ref().and(outcome),
                state: st,
                fingerprint: fp,
                properties: props.clone(),
                action_index: i,
            }
        })
        .collect())
}
