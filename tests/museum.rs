//! Every exhibit of museum/exhibits.toml shows its symptom on the kernel before the change and not after it.

use probesim::museum::{self, Museum};
use std::path::Path;

#[test]
fn every_exhibit_shows_its_change() {
    std::env::set_current_dir(env!("CARGO_MANIFEST_DIR")).expect("repo root exists");
    let m = Museum::load(Path::new("museum/exhibits.toml")).expect("the museum file reads");
    assert!(m.exhibits.len() >= 3, "{} exhibits", m.exhibits.len());
    for x in &m.exhibits {
        let v = museum::visit(x).expect("its scenarios run");
        assert!(v.before.is_some(), "{}: {} does not show {:?}", x.name, x.before.display(), x.symptom);
        assert!(v.after.is_none(), "{}: {} shows {:?}: {:?}", x.name, x.after.display(), x.symptom, v.after);
    }
}
