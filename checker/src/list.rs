//! `klpcheck list`: the stable names users put in scenarios and CI.

use std::fmt::Write;

use klp_model::properties::PROPERTIES;
use klp_model::{Profile, Variant};

pub fn render() -> String {
    let mut out = String::from("properties:\n");
    for p in PROPERTIES.iter() {
        let _ = writeln!(out, "  {:<28} {:<10} {}", p.id, p.kind.name(), p.meaning);
    }
    out += "profiles:\n";
    for p in Profile::ALL {
        let _ = writeln!(out, "  {:<28} {}", p.name(), p.meaning());
    }
    out += "variants:\n";
    for v in Variant::ALL {
        let _ = writeln!(out, "  {:<28} {}", v.name(), v.meaning());
    }
    out
}
