//! Embeds the floor's tauri.conf.json and its one static page.

fn main() {
    println!("cargo:rerun-if-changed=ui");
    tauri_build::build();
}
