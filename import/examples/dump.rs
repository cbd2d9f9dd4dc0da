fn walk(n: tree_sitter::Node, src: &[u8], depth: usize) {
    let field = "";
    let t = if n.child_count() == 0 {
        n.utf8_text(src).unwrap_or("")
    } else {
        ""
    };
    println!(
        "{}{}{} {} {}",
        "  ".repeat(depth),
        field,
        n.kind(),
        n.start_position().row + 1,
        t
    );
    let mut c = n.walk();
    for (i, ch) in n.children(&mut c).enumerate() {
        if let Some(f) = n.field_name_for_child(i as u32) {
            print!("{}[{}]", "  ".repeat(depth + 1), f);
            println!();
        }
        walk(ch, src, depth + 1);
    }
}
fn main() {
    let path = std::env::args().nth(1).unwrap();
    let src = std::fs::read(&path).unwrap();
    let mut p = tree_sitter::Parser::new();
    p.set_language(&tree_sitter_c::LANGUAGE.into()).unwrap();
    let t = p.parse(&src, None).unwrap();
    walk(t.root_node(), &src, 0);
}
