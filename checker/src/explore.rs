//! `klpcheck explore <SPEC> --addr 127.0.0.1:PORT`: stateright's Explorer, a
//! web UI to walk the scenario's state space by hand. Actions show as the
//! kernel commands and happenings of `KlpModel::format_action`; states as the
//! model's fields. It serves until the process is stopped.

use std::net::{TcpListener, ToSocketAddrs};
use std::path::Path;

use klp_model::KlpModel;
use stateright::Model;

use crate::load::load;
use crate::run::{usage_error, EXIT_OK, EXIT_USAGE};

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
    // stateright's server panics when it cannot bind: find out first.
    match TcpListener::bind(sock) {
        Ok(listener) => drop(listener),
        Err(e) => {
            eprintln!("klpcheck: --addr {addr}: cannot listen: {e}");
            return EXIT_USAGE;
        }
    }
    let model = KlpModel::new(l.scenario);
    eprintln!(
        "klpcheck: Explorer for {} on http://{sock}/ (stop with Ctrl-C)",
        model.sc.name
    );
    model.checker().serve(sock);
    EXIT_OK
}
